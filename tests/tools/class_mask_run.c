/* u2net_cloth_seg's class masks with the library, for
 * tests/pipeline/check_cloth_masks.py.
 *   class_mask_run PRED.f32 CHANNELS SIZE WIDTH HEIGHT OUT_PREFIX
 * Reads CHANNELS x SIZE x SIZE float32 (output 0 of one image) and writes
 * OUT_PREFIX-1.raw, -2.raw, -3.raw: the upper, lower and full masks at
 * WIDTH x HEIGHT (cutout_pipeline_class_map + cutout_pipeline_class_mask).
 * Exit status: 0 written, 1 a library call failed, 2 usage. */
#include <stdio.h>
#include <stdlib.h>

#include "cutout.h"
#include "raw_image.h"

/* raw_image.h's reader is for the tools that read images */
static int (*const unused_reader)(const char *, cutout_image *) __attribute__((unused)) = raw_read;

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: class_mask_run PRED.f32 CHANNELS SIZE WIDTH HEIGHT OUT_PREFIX\n");
        return 2;
    }
    int ch = atoi(argv[2]), size = atoi(argv[3]), w = atoi(argv[4]), h = atoi(argv[5]);
    if (ch < 1 || ch > 64 || size < 1 || size > 4096) return 2;
    size_t count = (size_t)ch * size * size;
    float *pred = malloc(count * sizeof *pred);
    FILE *f = fopen(argv[1], "rb");
    if (!pred || !f || fread(pred, sizeof *pred, count, f) != count) {
        fprintf(stderr, "class_mask_run: cannot read %zu floats from %s\n", count, argv[1]);
        return 2;
    }
    fclose(f);
    char err[256];
    cutout_image map = {0};
    int rc = cutout_pipeline_class_map(pred, ch, size, w, h, &map, NULL, err, sizeof err);
    for (int cls = CUTOUT_CLOTH_UPPER; !rc && cls <= CUTOUT_CLOTH_FULL; cls++) {
        cutout_image mask = {0};
        char path[4096];
        snprintf(path, sizeof path, "%s-%d.raw", argv[6], cls);
        rc = cutout_pipeline_class_mask(&map, cls, &mask, err, sizeof err);
        if (!rc && raw_write(path, &mask)) {
            snprintf(err, sizeof err, "cannot write %.200s", path);
            rc = -1;
        }
        cutout_image_free(&mask);
    }
    cutout_image_free(&map);
    free(pred);
    if (rc) fprintf(stderr, "class_mask_run: %s\n", err);
    return rc ? 1 : 0;
}
