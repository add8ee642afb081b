#include "zip.h"

#include <string.h>

static uint8_t *le16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

/* 1980-01-01 00:00: the archive is reproducible (the times are in the job). */
#define ZIP_DOS_TIME 0
#define ZIP_DOS_DATE ((0u << 9) | (1u << 5) | 1u)
#define ZIP_FLAGS 0x0800 /* bit 11: names are UTF-8 */

int zip_layout(zip_entry *e, int n, uint64_t *total)
{
    if (n < 0 || n > 65535) return -1;
    uint64_t off = 0, cd = 0;
    for (int i = 0; i < n; i++) {
        size_t nl = strnlen(e[i].name, sizeof e[i].name);
        if (nl == 0 || nl > ZIP_NAME_MAX || e[i].size > 0xFFFFFFFFu) return -1;
        e[i].offset = off;
        off += ZIP_LOCAL_FIXED + nl + e[i].size;
        cd += ZIP_CENTRAL_FIXED + nl;
        if (off > 0xFFFFFFFFu) return -1;
    }
    *total = off + cd + ZIP_END_LEN;
    return off + cd > 0xFFFFFFFFu ? -1 : 0;
}

size_t zip_local_header(const zip_entry *e, uint8_t *out, size_t cap)
{
    size_t nl = strnlen(e->name, sizeof e->name);
    if (cap < ZIP_LOCAL_FIXED + nl) return 0;
    uint8_t *p = le32(out, 0x04034b50);
    p = le16(p, 20);
    p = le16(p, ZIP_FLAGS);
    p = le16(p, 0); /* stored */
    p = le16(p, ZIP_DOS_TIME);
    p = le16(p, ZIP_DOS_DATE);
    p = le32(p, e->crc);
    p = le32(p, (uint32_t)e->size);
    p = le32(p, (uint32_t)e->size);
    p = le16(p, (unsigned)nl);
    p = le16(p, 0);
    memcpy(p, e->name, nl);
    return ZIP_LOCAL_FIXED + nl;
}

size_t zip_central_header(const zip_entry *e, uint8_t *out, size_t cap)
{
    size_t nl = strnlen(e->name, sizeof e->name);
    if (cap < ZIP_CENTRAL_FIXED + nl) return 0;
    uint8_t *p = le32(out, 0x02014b50);
    p = le16(p, (3u << 8) | 20); /* made by: Unix, 2.0 */
    p = le16(p, 20);
    p = le16(p, ZIP_FLAGS);
    p = le16(p, 0);
    p = le16(p, ZIP_DOS_TIME);
    p = le16(p, ZIP_DOS_DATE);
    p = le32(p, e->crc);
    p = le32(p, (uint32_t)e->size);
    p = le32(p, (uint32_t)e->size);
    p = le16(p, (unsigned)nl);
    p = le16(p, 0); /* extra */
    p = le16(p, 0); /* comment */
    p = le16(p, 0); /* disk */
    p = le16(p, 0); /* internal attributes */
    p = le32(p, 0100644u << 16); /* external: a regular file, rw-r--r-- */
    p = le32(p, (uint32_t)e->offset);
    memcpy(p, e->name, nl);
    return ZIP_CENTRAL_FIXED + nl;
}

size_t zip_end(int n, uint64_t cd_size, uint64_t cd_offset, uint8_t *out, size_t cap)
{
    if (cap < ZIP_END_LEN) return 0;
    uint8_t *p = le32(out, 0x06054b50);
    p = le16(p, 0);
    p = le16(p, 0);
    p = le16(p, (unsigned)n);
    p = le16(p, (unsigned)n);
    p = le32(p, (uint32_t)cd_size);
    p = le32(p, (uint32_t)cd_offset);
    le16(p, 0);
    return ZIP_END_LEN;
}
