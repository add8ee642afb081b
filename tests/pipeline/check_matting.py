#!/usr/bin/python3
"""cutout's alpha matting (engine/pipeline/matting.c through
build/tests/matting_run) against tests/reference/matting_ref.py on crops of
tests/fixtures/rembg/anime-girl-1.jpg, with rembg's u2netp mask for it (the
alpha of anime-girl-1.u2netp.png) and with a synthetic soft mask.

Checks: the trimap equals rembg's exactly; alpha within mean 1/255, max 8/255
of the exact (direct-solve) reference; the RGBA cutout likewise. Then the CLI:
`cutout --alpha-matting` on a small photo gives exactly matting_run's RGBA for
that photo and the CLI's own --mask (and the reference within the bounds).

    tests/pipeline/check_matting.py [BUILD] [--eps E]

--eps runs cutout with another Laplacian epsilon than the reference's 1e-7,
to see the check fail."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import matting_ref  # noqa: E402

FIX = os.path.join(ROOT, "tests", "fixtures", "rembg")


def write_raw(path, a):
    a = np.ascontiguousarray(a, dtype=np.uint8)
    c = 1 if a.ndim == 2 else a.shape[2]
    with open(path, "wb") as f:
        f.write(b"%d %d %d\n" % (a.shape[1], a.shape[0], c))
        f.write(a.tobytes())


def read_raw(path):
    with open(path, "rb") as f:
        w, h, c = map(int, f.readline().split())
        a = np.frombuffer(f.read(), np.uint8)
    return a.reshape(h, w, c) if c > 1 else a.reshape(h, w)


def run_cutout(build, rgb, mask, af, ab, ae, extra):
    with tempfile.TemporaryDirectory() as d:
        write_raw(os.path.join(d, "rgb.raw"), rgb)
        write_raw(os.path.join(d, "mask.raw"), mask)
        out = subprocess.run(
            [os.path.join(build, "tests", "matting_run"), *extra, "--threads", "2",
             os.path.join(d, "rgb.raw"), os.path.join(d, "mask.raw"),
             str(af), str(ab), str(ae), d],
            check=True, capture_output=True, text=True).stdout
        info = json.loads(out)
        if info["rc"] != 0:
            return info, None, None, None
        trimap = read_raw(os.path.join(d, "trimap.raw"))
        alpha = np.fromfile(os.path.join(d, "alpha.f64"), np.float64).reshape(mask.shape)
        rgba = read_raw(os.path.join(d, "rgba.raw"))
    return info, trimap, alpha, rgba


def check_cli(build, img):
    """build/cutout --alpha-matting == matting_run on the CLI's mask."""
    cli = os.path.join(build, "cutout")
    if not os.path.isfile(os.path.join(ROOT, "models", "u2netp.onnx")):
        print("skip CLI --alpha-matting: no models/u2netp.onnx")
        return 0
    # The whole photo at 170x120: foreground, background and hair.
    rgb_c = np.asarray(Image.fromarray(img).resize((170, 120), Image.BICUBIC))
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "photo.png")
        Image.fromarray(rgb_c).save(src)
        outs = {}
        for name, extra in (("mask", ["--mask"]),
                            ("am", ["--alpha-matting", "--af", "230", "--ab", "20", "--ae", "6"])):
            outs[name] = os.path.join(d, name + ".png")
            subprocess.run([cli, "-q", "-t", "2", "-m", "u2netp", *extra, src, "-o", outs[name]],
                           check=True, cwd=ROOT, capture_output=True)
        mask = np.asarray(Image.open(outs["mask"]))
        got = np.asarray(Image.open(outs["am"]).convert("RGBA"))
        info, _, _, want = run_cutout(build, rgb_c, mask, 230, 20, 6, [])
        _, _, ref = matting_ref.cutout(rgb_c, mask, 230, 20, 6)
    if want is None:
        print("FAIL CLI --alpha-matting: matting_run rc %d %s" % (info["rc"], info["error"]))
        return 1
    dc = np.abs(got.astype(int) - ref.astype(int)) / 255.0
    ok = np.array_equal(got, want) and dc.mean() <= 1 / 255 and dc.max() <= 8 / 255
    print("%s CLI --alpha-matting --af 230 --ab 20 --ae 6 on 170x120: %s matting_run's RGBA; "
          "vs reference mean %.4f/255 max %d/255" % (
              "ok  " if ok else "FAIL", "equals" if np.array_equal(got, want) else "DIFFERS from",
              dc.mean() * 255, round(dc.max() * 255)))
    return 0 if ok else 1


def main():
    args = sys.argv[1:]
    extra = []
    if "--eps" in args:
        i = args.index("--eps")
        extra = ["--eps", args[i + 1]]
        del args[i:i + 2]
    build = args[0] if args else os.path.join(ROOT, "build")
    img = np.asarray(Image.open(os.path.join(FIX, "anime-girl-1.jpg")).convert("RGB"))
    mask = np.asarray(Image.open(os.path.join(FIX, "anime-girl-1.u2netp.png")))[:, :, 3]
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    # A synthetic soft mask: a disc with a 12-pixel linear ramp.
    r = np.hypot(yy - 300, xx - 420)
    soft = np.clip((160 - r) / 12 * 255 + 128, 0, 255).astype(np.uint8)
    cases = [
        # name, y, x, height, width, mask, af, ab, ae
        ("u2netp mask 64x48", 440, 360, 48, 64, mask, 240, 10, 10),
        ("u2netp mask 97x61", 320, 520, 61, 97, mask, 240, 10, 10),
        ("soft disc 97x61 ae=5", 120, 380, 61, 97, soft, 240, 10, 5),
        ("u2netp mask 97x61 ae=0", 520, 480, 61, 97, mask, 240, 10, 0),
    ]
    failed = 0
    for name, y, x, ch, cw, m, af, ab, ae in cases:
        rgb_c = np.ascontiguousarray(img[y:y + ch, x:x + cw])
        m_c = np.ascontiguousarray(m[y:y + ch, x:x + cw])
        info, trimap, alpha, rgba = run_cutout(build, rgb_c, m_c, af, ab, ae, extra)
        rt, ra, rrgba = matting_ref.cutout(rgb_c, m_c, af, ab, ae)
        if trimap is None:
            print("FAIL %s: cutout rc %d %s" % (name, info["rc"], info["error"]))
            failed += 1
            continue
        unknown = int((rt == 128).sum())
        da = np.abs(alpha - ra)
        dc = np.abs(rgba.astype(int) - rrgba.astype(int)) / 255.0
        ok_t = np.array_equal(trimap, rt)
        ok_a = da.mean() <= 1 / 255 and da.max() <= 8 / 255
        ok_c = dc.mean() <= 1 / 255 and dc.max() <= 8 / 255
        ok = ok_t and ok_a and ok_c
        failed += not ok
        print("%s %s: unknown %d, CG %d iterations; trimap %s; alpha mean %.2e max %.2e (x255: "
              "%.4f / %.3f); cutout mean %.4f/255 max %d/255" % (
                  "ok  " if ok else "FAIL", name, unknown, info["iterations"],
                  "equal" if ok_t else "DIFFERS", da.mean(), da.max(), da.mean() * 255,
                  da.max() * 255, dc.mean() * 255, round(dc.max() * 255)))
    failed += check_cli(build, img)
    print("check_matting: %s" % ("all passed" if not failed else "%d FAILED" % failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
