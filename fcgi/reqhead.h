/* Whether bytes peeked from a FastCGI connection hold a whole request head
 * (the connection poller's test before it gives the connection a request
 * thread: conns.h). */
#ifndef CUTOUT_FCGI_REQHEAD_H
#define CUTOUT_FCGI_REQHEAD_H

#include <stddef.h>

/* 1 when the n bytes at b hold complete records up to the empty PARAMS
 * record that ends the parameters, or anything a thread settles at once
 * (another record type, a version that is not FastCGI 1: libfcgi answers
 * or refuses it); 0 while more bytes are needed. Reads only b[0..n). */
int reqhead_complete(const unsigned char *b, size_t n);

#endif
