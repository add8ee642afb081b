/* The on-disk cache of the CPU backend's packed conv weights (Winograd U and
 * packed GEMM A, laid out once per model in prepare): one file per key in
 * cut_cache_dir(), mapped read-only on a hit so that a start pays neither the
 * transforms nor the zeroing of fresh pages, and processes running the same
 * model share those pages.
 *
 * File: a header (magic, format, key, sizes, a checksum of the header and the
 * chunk table), one cut_hash64 per 4 MiB chunk of the payload, zeros up to a
 * 64 KiB boundary, the payload. Written to a temporary file and renamed into
 * place, so a reader sees a whole file or none; any mismatch on reading (size,
 * header, a chunk's checksum) makes it a miss, and the caller rewrites it. */
#ifndef CUTOUT_CPU_WEIGHT_CACHE_H
#define CUTOUT_CPU_WEIGHT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cpu_backend.h"

/* Below this many bytes of packed weights there is no file: laying them out
 * costs a few ms, and the tests' random models (1-2.4 MB) would litter the
 * directory with a file per run. u2netp's are 18 MB. */
#define CUT_WCACHE_MIN_BYTES ((size_t)8 << 20)

/* The key of cb's packed weights: every packed conv's method, shape and
 * weights, the ISA the layout code ran with (its rounding differs) and the
 * file format. Hashes the weights on the pool. */
uint64_t cut_wcache_key(cpu_backend *cb);

/* The file for key in the cache directory; 0, or -1 when there is no cache
 * directory (CUTOUT_WEIGHT_CACHE=0 in the environment turns it off). */
int cut_wcache_path(uint64_t key, char *path, size_t len);

/* Maps the cached payload of exactly `bytes` for key, its chunks checked on
 * the pool (which also faults the pages in). The payload, with *map and
 * *map_bytes set for munmap, or NULL on any mismatch. */
void *cut_wcache_load(threadpool *tp, const char *path, uint64_t key, size_t bytes, void **map,
                      size_t *map_bytes);

/* A cache file being written: the caller lays the weights out straight into
 * its shared mapping (the page cache), then commits it. */
typedef struct {
    char tmp[4200], path[4200];
    int fd;
    void *map;
    size_t map_bytes, off, bytes;
} cut_wcache_new;

/* Creates a temporary file beside path with room for `bytes` of payload,
 * its blocks reserved (writing through the mapping cannot then fail for
 * want of space), and maps it shared. The payload (zeros), or NULL. Laying
 * out into the page cache and committing costs ~0.3 s of CPU for ISNet's
 * 704 MB where write() of an anonymous copy cost 0.7-2.4 s on the test VM. */
void *cut_wcache_begin(const char *path, size_t bytes, cut_wcache_new *w);

/* Checksums the payload on the pool, writes the header and the chunk table,
 * renames the file into place and makes the mapping read-only; 0, or -1 with
 * the temporary file removed. Either way w->map stays mapped (the caller's
 * weights) and the caller unmaps it. */
int cut_wcache_commit(threadpool *tp, cut_wcache_new *w, uint64_t key);
/* The directory is kept under this many bytes of cache files: after a file
 * is written, the least recently used others (last use = a hit or the write,
 * kept as the file's mtime) are deleted until the rest fits. Room for ISNet
 * (704 MB) and U2-Net (700 MB) for two ISAs. A process that maps a deleted
 * file keeps its pages. */
#define CUT_WCACHE_MAX_BYTES ((uint64_t)3 << 30)
/* A temporary older than this belongs to a writer that died. */
#define CUT_WCACHE_STALE_TMP_S 3600

/* Deletes, in keep's directory, temporaries older than
 * CUT_WCACHE_STALE_TMP_S and the least recently used cache files beyond
 * max_bytes (keep itself counted first, never deleted). Other files are not
 * touched. Called by cut_wcache_commit. */
void cut_wcache_prune(const char *keep, uint64_t max_bytes);

/* Gives the temporary file up (removed); w->map stays mapped, as above. */
void cut_wcache_abandon(cut_wcache_new *w);

#endif
