/* The raw image files the test tools exchange with the Python checks:
 * a text line "WIDTH HEIGHT CHANNELS\n" followed by the pixels, tightly packed. */
#ifndef CUTOUT_TESTS_RAW_IMAGE_H
#define CUTOUT_TESTS_RAW_IMAGE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

static int raw_read(const char *path, cutout_image *img)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int w, h, c;
    char err[128];
    if (fscanf(f, "%d %d %d", &w, &h, &c) != 3 || fgetc(f) != '\n' ||
        cutout_image_alloc(img, w, h, c, err, sizeof err)) {
        fclose(f);
        return -1;
    }
    size_t n = img->stride * (size_t)h;
    int ok = fread(img->pixels, 1, n, f) == n;
    fclose(f);
    if (!ok) cutout_image_free(img);
    return ok ? 0 : -1;
}

static int raw_write(const char *path, const cutout_image *img)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "%d %d %d\n", img->width, img->height, img->channels);
    for (int y = 0; y < img->height; y++)
        fwrite(img->pixels + (size_t)y * img->stride, 1,
               (size_t)img->width * (size_t)img->channels, f);
    return fclose(f) == 0 ? 0 : -1;
}

#endif
