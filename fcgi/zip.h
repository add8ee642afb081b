/* A minimal ZIP writer (PKWARE APPNOTE 4.3): stored entries (results are
 * PNG, JPEG or WebP: compressed already), CRC-32 from zlib, no ZIP64. The
 * archive's size is known before a byte is written, so it can be streamed
 * with a Content-Length. */
#ifndef CUTOUT_FCGI_ZIP_H
#define CUTOUT_FCGI_ZIP_H

#include <stddef.h>
#include <stdint.h>

#define ZIP_NAME_MAX 255
#define ZIP_LOCAL_FIXED 30
#define ZIP_CENTRAL_FIXED 46
#define ZIP_END_LEN 22

typedef struct {
    char name[ZIP_NAME_MAX + 1];
    uint64_t size;
    uint32_t crc;
    uint64_t offset; /* of its local header */
} zip_entry;

/* The archive's size for these entries; sets each entry's offset. 0, or -1
 * when it does not fit ZIP32 (4 GiB, 65535 entries, names of 1..255). */
int zip_layout(zip_entry *e, int n, uint64_t *total);

/* The local header of e into out (ZIP_LOCAL_FIXED + name bytes); the
 * number of bytes, 0 when cap is too small. */
size_t zip_local_header(const zip_entry *e, uint8_t *out, size_t cap);

/* The central directory record of e; as above. */
size_t zip_central_header(const zip_entry *e, uint8_t *out, size_t cap);

/* The end of central directory record (ZIP_END_LEN bytes). */
size_t zip_end(int n, uint64_t cd_size, uint64_t cd_offset, uint8_t *out, size_t cap);

#endif
