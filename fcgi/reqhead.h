/* Whether bytes peeked from a FastCGI connection hold a whole request head
 * (the connection poller's test before it gives the connection a request
 * thread: conns.h). */
#ifndef CUTOUT_FCGI_REQHEAD_H
#define CUTOUT_FCGI_REQHEAD_H

#include <stddef.h>

/* 1 when the n bytes at b hold complete records up to the empty PARAMS
 * record that ends the parameters, or anything a thread settles at once
 * (another record type, a version that is not FastCGI 1: the poller closes
 * it); 0 while more bytes are needed. Reads only b[0..n). */
int reqhead_complete(const unsigned char *b, size_t n);

/* 1 when b[0..n) starts with a request head of the shape web servers send
 * (BEGIN_REQUEST, PARAMS records of its id, the empty PARAMS record; see
 * reqhead.c) whose every name-value pair ends inside the parameters; 0
 * otherwise: any other head is closed before a thread reads it (the
 * thread's reader, fcgi_stream.h, checks every length again). Reads only
 * b[0..n). */
int reqhead_params_valid(const unsigned char *b, size_t n);

#endif
