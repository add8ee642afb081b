/* Decodes and encodes images with the library for tests/image/check_decode.py.
 *
 *   image_run decode [--gray16-clip] [--limits PIXELS,MAXDIM,MINDIM] IN OUT.raw
 *       prints one JSON line: {"rc":..,"format":..,"orientation":..,"frames":..,
 *       "has_alpha":..,"warning":..,"error":..}; OUT.raw is written when rc is 0.
 *   image_run encode png|jpeg|webp|webp-lossless QUALITY_OR_LEVEL IN.raw OUT
 * Exit status: 0 when the tool ran (whatever rc), 2 on usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutout.h"
#include "raw_image.h"
#include "util.h"

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static int decode(int argc, char **argv)
{
    cutout_decode_flags flags = {0};
    cutout_image_limits limits = {0, 0, 0};
    int i = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--gray16-clip") == 0) {
            flags.gray16_clip = 1;
        } else if (strcmp(argv[i], "--limits") == 0 && i + 1 < argc) {
            unsigned long long px;
            if (sscanf(argv[++i], "%llu,%d,%d", &px, &limits.max_dimension,
                       &limits.min_dimension) != 3)
                return 2;
            limits.max_pixels = px;
        } else {
            return 2;
        }
    }
    if (argc - i != 2) return 2;
    uint8_t *data;
    size_t size;
    char err[256] = "";
    int rc = cutout_read_file(argv[i], (size_t)1 << 30, &data, &size, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    cutout_image img;
    cutout_image_info info;
    rc = cutout_image_decode(data, size, &limits, flags, &img, &info, err, sizeof err);
    free(data);
    if (rc == 0 && raw_write(argv[i + 1], &img)) {
        fprintf(stderr, "cannot write %s\n", argv[i + 1]);
        return 1;
    }
    printf("{\"rc\":%d,\"format\":\"%s\",\"orientation\":%d,\"frames\":%d,\"has_alpha\":%d,"
           "\"channels\":%d,\"warning\":",
           rc, cutout_image_format_name(info.format), info.orientation, info.frames,
           info.has_alpha, img.channels);
    json_string(info.warning);
    printf(",\"error\":");
    json_string(rc ? err : "");
    printf("}\n");
    cutout_image_free(&img);
    return 0;
}

static int encode(int argc, char **argv)
{
    if (argc != 4) return 2;
    cutout_encode_options opt;
    const char *f = argv[0];
    int q = atoi(argv[1]);
    if (strcmp(f, "png") == 0) {
        cutout_encode_options_default(&opt, CUTOUT_FORMAT_PNG);
        opt.png_level = q;
    } else if (strcmp(f, "jpeg") == 0) {
        cutout_encode_options_default(&opt, CUTOUT_FORMAT_JPEG);
        opt.quality = q;
    } else if (strncmp(f, "webp", 4) == 0) {
        cutout_encode_options_default(&opt, CUTOUT_FORMAT_WEBP);
        opt.quality = q;
        opt.lossless = strcmp(f, "webp-lossless") == 0;
    } else {
        return 2;
    }
    cutout_image img;
    if (raw_read(argv[2], &img)) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    uint8_t *data;
    size_t size;
    char err[256];
    int rc = cutout_image_encode(&img, &opt, &data, &size, NULL, err, sizeof err);
    cutout_image_free(&img);
    if (rc) {
        printf("{\"rc\":%d,\"error\":", rc);
        json_string(err);
        printf("}\n");
        return 0;
    }
    FILE *o = fopen(argv[3], "wb");
    int ok = o && fwrite(data, 1, size, o) == size;
    if (o && fclose(o)) ok = 0;
    free(data);
    printf("{\"rc\":%d,\"bytes\":%zu}\n", ok ? 0 : CUTOUT_E_IO, size);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) rc = decode(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "encode") == 0) rc = encode(argc - 2, argv + 2);
    if (rc == 2)
        fprintf(stderr, "usage: image_run decode [--gray16-clip] [--limits P,MAXD,MIND] IN "
                        "OUT.raw | encode png|jpeg|webp|webp-lossless Q IN.raw OUT\n");
    return rc;
}
