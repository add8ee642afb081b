/* libFuzzer entry point for the image decoders behind cutout_image_decode
 * (engine/image: PNG, JPEG and WebP; BMP when its decoder lands). One source,
 * one binary per format (tests/fuzz/run-fuzz image_png, image_jpeg,
 * image_webp): each starts from its own seed corpus, and inputs that sniff as
 * another format are skipped so the run stays on its decoder. With the
 * server's limits (fcgi defaults, smaller pixel count so a run stays in
 * memory), every input gives an image whose every pixel can be read, or an
 * error with a message; anything else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cutout.h"

#ifndef FUZZ_FORMAT
#error "build with -DFUZZ_FORMAT=CUTOUT_FORMAT_PNG (or _JPEG, _WEBP)"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cutout_image_sniff(data, size) != FUZZ_FORMAT) return -1; /* not added to the corpus */
    cutout_image_limits lim = {.max_pixels = 4u << 20, .max_dimension = 12000, .min_dimension = 1};
    cutout_decode_flags flags;
    memset(&flags, 0, sizeof flags);
    flags.gray16_clip = size & 1; /* both paths; the input decides */
    cutout_image im;
    cutout_image_info info;
    char err[256] = "";
    int rc = cutout_image_decode(data, size, &lim, flags, &im, &info, err, sizeof err);
    if (rc != CUTOUT_OK) {
        if (!err[0] || im.pixels) abort();
        return 0;
    }
    if (im.width < 1 || im.height < 1 || (uint64_t)im.width * (uint64_t)im.height > lim.max_pixels)
        abort();
    if (im.channels != 1 && im.channels != 3 && im.channels != 4) abort();
    if (im.stride < (size_t)im.width * (size_t)im.channels) abort();
    if (!memchr(info.warning, 0, sizeof info.warning)) abort();
    for (int y = 0; y < im.height; y++) {
        const uint8_t *row = im.pixels + (size_t)y * im.stride;
        sink ^= row[0];
        sink ^= row[(size_t)im.width * (size_t)im.channels - 1];
    }
    cutout_image_free(&im);
    return 0;
}
