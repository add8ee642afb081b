/* The rembg-compatible pipeline (engine/pipeline/pipeline.c, engine/pipeline/postprocess.c) on
 * small hand-made inputs whose results were computed by hand or by the
 * numpy/PIL code quoted next to them. The whole pipeline against rembg on
 * real photos is tests/pipeline/check_masks.py. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutout.h"
#include "pipeline.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static cutout_image make(int w, int h, int c, int fill)
{
    cutout_image im;
    char err[128];
    if (cutout_image_alloc(&im, w, h, c, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    for (int y = 0; y < h; y++) memset(im.pixels + (size_t)y * im.stride, fill, (size_t)w * c);
    return im;
}

static void test_pred_to_u8(void)
{
    /* (x - 1) / 4 = 0, .5, 1, .25, .99975; x 255 = 0, 127.5, 255, 63.75, 254.94:
     * truncated (numpy astype), not rounded. */
    const float pred[5] = {1, 3, 5, 2, 4.999f};
    uint8_t out[5];
    cut_pipeline_pred_to_u8(pred, 5, out);
    check(out[0] == 0 && out[1] == 127 && out[2] == 255 && out[3] == 63 && out[4] == 254,
          "min-max normalise then truncate: 0 127 255 63 254");
    /* Same shape from a sigmoid-like range: only relative values matter. */
    const float p2[3] = {0.25f, 0.5f, 0.75f};
    cut_pipeline_pred_to_u8(p2, 3, out);
    check(out[0] == 0 && out[1] == 127 && out[2] == 255, "min-max over the map, not 0..1");
    const float flat[4] = {0.3f, 0.3f, 0.3f, 0.3f};
    memset(out, 7, sizeof out);
    cut_pipeline_pred_to_u8(flat, 4, out);
    check(out[0] == 0 && out[3] == 0, "constant map -> 0 (numpy would give NaN)");

    cutout_image m;
    char err[128];
    int rc = cutout_pipeline_mask(pred, 2, 2, 2, &m, NULL, err, sizeof err); /* 2x2: no resize */
    check(rc == 0 && m.channels == 1 && m.pixels[0] == 0 && m.pixels[1] == 127 &&
              m.pixels[m.stride] == 255 && m.pixels[m.stride + 1] == 63,
          "cutout_pipeline_mask at the model size (no resize): 1,3,5,2 -> 0 127 255 63");
    cutout_image_free(&m);
}

static void test_preprocess(void)
{
    char err[128];
    float t[3 * 4];
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    /* A constant image stays constant through LANCZOS; its max is 40, so
     * R = 10/40 = .25 -> (.25 - .485)/.229 = -1.0262009, G = .5 -> .19642857,
     * B = 1 -> 2.64 (max over all channels, not per channel, not 255). */
    cutout_image im = make(5, 3, 3, 0);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++) {
            uint8_t *p = im.pixels + (size_t)y * im.stride + 3 * x;
            p[0] = 10, p[1] = 20, p[2] = 40;
        }
    int rc = cutout_pipeline_preprocess(&im, 2, mean, std, t, NULL, err, sizeof err);
    check(rc == 0 && fabsf(t[0] + 1.0262009f) < 1e-6f && fabsf(t[3] + 1.0262009f) < 1e-6f &&
              fabsf(t[4] - 0.19642857f) < 1e-6f && fabsf(t[8] - 2.64f) < 1e-6f,
          "preprocess: / image max (40), ImageNet mean/std, CHW planes");
    cutout_image_free(&im);

    /* Grey 51 replicated: 51/51 = 1 in every plane. Black: / 1 instead of / 0. */
    im = make(3, 3, 1, 51);
    rc = cutout_pipeline_preprocess(&im, 2, mean, std, t, NULL, err, sizeof err);
    check(rc == 0 && fabsf(t[0] - (1 - 0.485f) / 0.229f) < 1e-5f &&
              fabsf(t[11] - (1 - 0.406f) / 0.225f) < 1e-5f,
          "preprocess: grey input replicated to RGB");
    cutout_image_free(&im);
    im = make(3, 3, 4, 0);
    rc = cutout_pipeline_preprocess(&im, 2, mean, std, t, NULL, err, sizeof err);
    check(rc == 0 && isfinite(t[0]) && fabsf(t[0] + 0.485f / 0.229f) < 1e-5f,
          "preprocess: all-black RGBA stays finite");
    cutout_image_free(&im);
}

static void test_color(void)
{
    uint8_t c[4];
    check(!cutout_parse_color("#ff8000", c) && c[0] == 255 && c[1] == 128 && c[2] == 0 && c[3] == 255,
          "colour #ff8000");
    check(!cutout_parse_color("#FF800080", c) && c[3] == 128, "colour #FF800080 (alpha 0x80)");
    check(!cutout_parse_color("1,2,3", c) && c[0] == 1 && c[1] == 2 && c[2] == 3 && c[3] == 255,
          "colour 1,2,3");
    check(!cutout_parse_color("10, 20, 30, 40", c) && c[3] == 40, "colour 10, 20, 30, 40");
    const char *bad[] = {"", "#ff80", "#ff80001", "#gg0000", "256,0,0", "1,2", "1,2,3,4,5",
                         "1,,3", "-1,2,3", "1,2,3,", "red", "0001,2,3"};
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (!cutout_parse_color(bad[i], c)) {
            printf("     accepted bad colour '%s'\n", bad[i]);
            all = 0;
        }
    check(all, "malformed colours rejected");
}

static void test_bbox_crop(void)
{
    char err[128];
    cutout_image m = make(10, 8, 1, 0);
    int box[4] = {-1, -1, -1, -1};
    check(cut_mask_bbox(&m, box) == 0 && box[0] == -1, "empty mask: no box");
    m.pixels[3 * m.stride + 2] = 1;
    m.pixels[5 * m.stride + 6] = 200;
    check(cut_mask_bbox(&m, box) == 1 && box[0] == 2 && box[1] == 3 && box[2] == 5 && box[3] == 3,
          "bbox of mask > 0: x 2 y 3 w 5 h 3");
    int b[4];
    memcpy(b, box, sizeof b);
    cut_box_margin(b, 1, 0, 10, 8);
    check(b[0] == 1 && b[1] == 2 && b[2] == 7 && b[3] == 5, "margin 1 px -> 1 2 7 5");
    memcpy(b, box, sizeof b);
    cut_box_margin(b, 100, 1, 10, 8); /* 5 and 3 px: clamped to the image */
    check(b[0] == 0 && b[1] == 0 && b[2] == 10 && b[3] == 8, "margin 100% clamped to the image");
    memcpy(b, box, sizeof b);
    cut_box_margin(b, 50, 1, 10, 8); /* 2.5 -> 3 px, 1.5 -> 2 px */
    check(b[0] == 0 && b[1] == 1 && b[2] == 10 && b[3] == 7, "margin 50% (rounded) -> 0 1 10 7");

    cutout_image c;
    int rc = cut_image_crop(&m, box, &c, err, sizeof err);
    check(rc == 0 && c.width == 5 && c.height == 3 && c.pixels[0] == 1 &&
              c.pixels[2 * c.stride + 4] == 200,
          "crop keeps the corner pixels of the box");
    cutout_image_free(&c);
    int out_of[4] = {8, 0, 3, 1};
    check(cut_image_crop(&m, out_of, &c, err, sizeof err) == CUTOUT_E_ARG, "crop outside refused");
    cutout_image_free(&m);

    int w, h;
    cut_fit_size(1000, 500, 200, 200, &w, &h);
    check(w == 200 && h == 100, "fit 1000x500 in 200x200 -> 200x100");
    cut_fit_size(333, 1000, 300, 300, &w, &h); /* 99.9 -> 100 */
    check(w == 100 && h == 300, "fit 333x1000 in 300x300 -> 100x300");
    cut_fit_size(100, 80, 200, 200, &w, &h);
    check(w == 100 && h == 80, "fit: smaller images are not enlarged");
}

static void test_compose(void)
{
    char err[128];
    /* PIL: Image.alpha_composite(Image.new("RGBA",(1,1),(0,0,255,255)),
     *                            Image.new("RGBA",(1,1),(200,100,0,128))) -> (100,50,127,255)
     * and dst (90,60,3,200), src (10,250,30,77) -> (62,128,13,217). */
    cutout_image d = make(2, 1, 4, 0), s = make(2, 1, 4, 0);
    const uint8_t d0[8] = {0, 0, 255, 255, 90, 60, 3, 200}, s0[8] = {200, 100, 0, 128, 10, 250, 30, 77};
    memcpy(d.pixels, d0, 8);
    memcpy(s.pixels, s0, 8);
    int rc = cut_alpha_composite(&d, &s, err, sizeof err);
    const uint8_t want[8] = {100, 50, 127, 255, 62, 128, 13, 217};
    check(rc == 0 && !memcmp(d.pixels, want, 8), "alpha composite equals PIL's alpha_composite");
    cutout_image_free(&d);
    cutout_image_free(&s);

    /* RGBA input alpha 128: mask 255 -> 128, mask 128 -> round(128*128/255) = 64. */
    cutout_image img = make(2, 1, 4, 128), m = make(2, 1, 1, 255), out;
    m.pixels[1] = 128;
    rc = cut_compose_cutout(&img, &m, &out, NULL, err, sizeof err);
    check(rc == 0 && out.pixels[3] == 128 && out.pixels[7] == 64 && out.pixels[0] == 128,
          "cutout keeps RGB, alpha = input alpha x mask");
    cutout_image_free(&img);
    cutout_image_free(&out);
    img = make(2, 1, 3, 9);
    rc = cut_compose_cutout(&img, &m, &out, NULL, err, sizeof err);
    check(rc == 0 && out.channels == 4 && out.pixels[3] == 255 && out.pixels[7] == 128 &&
              out.pixels[4] == 9,
          "cutout of RGB: alpha = mask");
    cutout_image_free(&out);

    /* Render: colour background, opaque (JPEG) output. mask 128 over white
     * with colour (9,9,9): PIL composite -> round-ish blend 132. */
    cutout_render_options ro;
    cutout_render_options_default(&ro);
    ro.opaque = 1;
    rc = cutout_render(&img, &m, &ro, &out, NULL, err, sizeof err);
    check(rc == 0 && out.channels == 3 && out.pixels[0] == 9 && out.pixels[3] > 120 &&
              out.pixels[3] < 140,
          "render opaque: flattened over white, 3 channels");
    cutout_image_free(&out);
    cutout_image_free(&img);
    cutout_image_free(&m);
}

static cutout_image from_rows(int w, int h, const uint8_t *v)
{
    cutout_image im = make(w, h, 1, 0);
    for (int y = 0; y < h; y++) memcpy(im.pixels + (size_t)y * im.stride, v + (size_t)y * w, (size_t)w);
    return im;
}

/* Expected outputs below come from post_process_reference() in
 * tests/pipeline/check_masks.py (scipy grey_erosion/grey_dilation with the
 * 3x3 cross, cval 255/0 outside; float 5-tap Gaussian sigma 2 with numpy
 * pad mode "reflect" = BORDER_REFLECT_101; rounded; < 127 -> 0):
 *   m = np.zeros((11, 11), np.uint8); m[3:8, 3:8] = 255
 *   g[y, x] = clip(40 x - 25 y + 60, 0, 255) on 12x9, g[4, 1] = 255 */
static void test_post_process(void)
{
    char err[128];
    /* An isolated speck: the opening removes it. */
    cutout_image m = make(7, 7, 1, 0);
    m.pixels[3 * m.stride + 3] = 255;
    int rc = cut_mask_post_process(&m, err, sizeof err);
    int zero = 1;
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 7; x++) zero &= m.pixels[y * m.stride + x] == 0;
    check(rc == 0 && zero, "post-process: a single pixel is opened away");
    cutout_image_free(&m);

    /* All white: cv2's erosion ignores outside pixels, so nothing erodes. */
    m = make(6, 5, 1, 255);
    rc = cut_mask_post_process(&m, err, sizeof err);
    int white = 1;
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 6; x++) white &= m.pixels[y * m.stride + x] == 255;
    check(rc == 0 && white, "post-process: borders do not erode");
    cutout_image_free(&m);

    /* A 2-pixel strip on the left edge: with outside pixels ignored the
     * erosion keeps column 0 and the dilation restores column 1; reflect-101
     * blur at x = 0: (57+64+57)/256*255 = 177, x = 1: 160/256*255 = 159,
     * x = 2: 96/256*255 = 96 -> the strip survives exactly. (A zero border
     * would erode both columns and erase it.) */
    m = make(6, 5, 1, 0);
    for (int y = 0; y < 5; y++) memset(m.pixels + y * m.stride, 255, 2);
    rc = cut_mask_post_process(&m, err, sizeof err);
    int strip = rc == 0;
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 6; x++) strip &= m.pixels[y * m.stride + x] == (x < 2 ? 255 : 0);
    check(strip, "post-process: a 2-pixel strip on the edge survives (outside ignored)");
    cutout_image_free(&m);

    /* A 5x5 square: the opening rounds its corners (cross), the blur and the
     * threshold shrink it to a diamond of radius 2. */
    m = make(11, 11, 1, 0);
    for (int y = 3; y < 8; y++) memset(m.pixels + y * m.stride + 3, 255, 5);
    rc = cut_mask_post_process(&m, err, sizeof err);
    int ok = rc == 0;
    for (int y = 0; y < 11; y++)
        for (int x = 0; x < 11; x++) {
            int want = abs(x - 5) + abs(y - 5) <= 2 ? 255 : 0;
            ok &= m.pixels[y * m.stride + x] == want;
        }
    check(ok, "post-process: 5x5 square -> radius-2 diamond (numpy reference)");
    cutout_image_free(&m);

    uint8_t g[9 * 12];
    for (int y = 0; y < 9; y++)
        for (int x = 0; x < 12; x++) {
            int v = 40 * x - 25 * y + 60;
            g[y * 12 + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    g[4 * 12 + 1] = 255;
    /* First white column per row in the numpy result: */
    static const int first[9] = {3, 3, 3, 4, 5, 5, 6, 6, 7};
    m = from_rows(12, 9, g);
    rc = cut_mask_post_process(&m, err, sizeof err);
    ok = rc == 0;
    for (int y = 0; y < 9; y++)
        for (int x = 0; x < 12; x++) ok &= m.pixels[y * m.stride + x] == (x >= first[y] ? 255 : 0);
    check(ok, "post-process: graded edge with a speck equals the numpy reference");
    cutout_image_free(&m);
}

int main(void)
{
    test_pred_to_u8();
    test_preprocess();
    test_color();
    test_bbox_crop();
    test_compose();
    test_post_process();
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures != 0;
}
