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

/* 1 when every name-value pair in the PARAMS records of b[0..n) ends inside
 * the parameter stream (which ends at the empty PARAMS record, or at n);
 * 0 when a pair declares more bytes than the stream holds. libfcgi (2.4)
 * sizes its buffer for a pair from the two declared lengths in an int and
 * writes through what malloc returns, so a connection carrying such a pair
 * is closed before any thread reads it. Reads only b[0..n). */
int reqhead_params_valid(const unsigned char *b, size_t n);

#endif
