/* A fast 64-bit checksum of a byte range (hash64.c): position-weighted
 * running sums over 8-byte words, mixed at the end. It detects
 * accidental damage (a truncated or overwritten cache file, a changed
 * weight); it is not a defence against someone who can write the file. */
#ifndef CUTOUT_HASH64_H
#define CUTOUT_HASH64_H

#include <stddef.h>
#include <stdint.h>

uint64_t cut_hash64(const void *data, size_t bytes, uint64_t seed);

#endif
