/* Per-model normalisation from the compiled registry (models/registry.tsv),
 * and the stacking of rendered class outputs. Runs from the source root
 * (tests/run-unit): loads the shipped models/u2netp.onnx. */
#include <math.h>
#include <stdlib.h>

#include "cutout.h"
#include "../tools/unit_check.h"

static int near3(const float a[3], float x, float y, float z)
{
    return fabsf(a[0] - x) < 1e-6f && fabsf(a[1] - y) < 1e-6f && fabsf(a[2] - z) < 1e-6f;
}

static void test_norm(void)
{
    char err[512];
    cutout_model *m = NULL;
    float mean[3], std[3];
    int rc = cutout_model_load_named("models/u2netp.onnx", &m, err, sizeof err);
    check(rc == 0, "u2netp loads by path (%s)", rc ? err : "ok");
    if (rc) return;
    cutout_model_mean_std(m, mean, std);
    check(near3(mean, 0.485f, 0.456f, 0.406f) && near3(std, 0.229f, 0.224f, 0.225f),
          "a file by path keeps its architecture's ImageNet mean/std");
    /* isnet-anime's row: mean 0.485,0.456,0.406, std 1,1,1 (rembg's dis_anime.py) */
    check(cutout_model_use_registry(m, "isnet-anime") == 1, "isnet-anime is a registry model");
    cutout_model_mean_std(m, mean, std);
    check(near3(mean, 0.485f, 0.456f, 0.406f) && near3(std, 1, 1, 1),
          "isnet-anime's registry std 1,1,1 replaces the default");
    check(cutout_model_use_registry(m, "isnet-general-use") == 1, "isnet-general-use row");
    cutout_model_mean_std(m, mean, std);
    check(near3(mean, 0.5f, 0.5f, 0.5f) && near3(std, 1, 1, 1), "isnet-general-use: 0.5 and 1");
    check(cutout_model_use_registry(m, "birefnet-general") == 0 &&
              cutout_model_use_registry(m, "no-such-model") == 0,
          "refused and unknown names leave the model alone");
    cutout_model_mean_std(m, mean, std);
    check(near3(mean, 0.5f, 0.5f, 0.5f), "... and keep the last values");
    cutout_model_free(m);
    m = NULL;
    rc = cutout_model_load_named("birefnet-general", &m, err, sizeof err);
    check(rc == CUTOUT_E_UNSUPPORTED && !m && strstr(err, "BiRefNet"),
          "load_named refuses birefnet-general: %s", err);
}

static void test_stack(void)
{
    char err[256];
    cutout_image a = {0}, b = {0}, out = {0};
    cutout_image_alloc(&a, 3, 2, 1, err, sizeof err);
    cutout_image_alloc(&b, 2, 1, 4, err, sizeof err);
    memset(a.pixels, 7, a.stride * 2);
    memset(b.pixels, 200, b.stride);
    int rc = cutout_stack_vertical((cutout_image[]){a, b}, 2, 4, &out, err, sizeof err);
    check(rc == 0 && out.width == 3 && out.height == 3 && out.channels == 4, "stack: 3x3 RGBA");
    if (!rc) {
        const uint8_t *p = out.pixels;
        check(p[0] == 7 && p[1] == 7 && p[2] == 7 && p[3] == 255, "grey row -> grey, alpha 255");
        const uint8_t *r2 = out.pixels + 2 * out.stride;
        check(r2[0] == 200 && r2[7] == 200 && r2[8] == 0 && r2[11] == 0,
              "narrower image: the rest of its row is transparent black");
    }
    cutout_image_free(&a);
    cutout_image_free(&b);
    cutout_image_free(&out);
}

int main(void)
{
    (void)rnd; /* unit_check.h's image helpers: not needed here */
    (void)same_pixels;
    test_norm();
    test_stack();
    return failures ? 1 : 0;
}
