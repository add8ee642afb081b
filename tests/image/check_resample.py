#!/usr/bin/python3
"""Compares cut_resize_lanczos with PIL's Image.resize(size, LANCZOS).

Random images (noise, smooth fields with hard edges, random alpha) of random
and extreme sizes -- up, down, odd, 1-pixel wide, 4000 -> 320, 7 -> 1000 --
in L, RGB and RGBA, resized by PIL and by tests/tools/resample_run (both its
AVX2 and its portable code). Reports the largest level difference and the
fraction of identical bytes; exits non-zero when any byte differs, since the
claim is exactness (a difference means the arithmetic is not PIL's).

    /usr/bin/python3 tests/image/check_resample.py [BUILD_DIR] [--cases N] [--seed S]

BUILD_DIR holds tests/resample_run (default build); build it with the
Makefile or by hand (see tests/image/README.md).
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawio  # noqa: E402

MODES = {"L": 1, "RGB": 3, "RGBA": 4}

FIXED = [  # (src w, src h, dst w, dst h): the cases the issue names, and edges
    (4000, 3000, 320, 320), (3000, 4000, 320, 320), (320, 320, 4000, 3000),
    (7, 5, 1000, 999), (1, 50, 1, 320), (50, 1, 320, 1), (1, 1, 320, 320),
    (320, 320, 1, 1), (2, 3, 5, 7), (640, 480, 320, 320), (320, 320, 640, 480),
    (1000, 10, 3, 2000), (17, 913, 320, 320), (320, 320, 321, 319),
    (333, 1, 1, 333), (12, 12, 12, 13), (12, 13, 12, 12),
]


def make_image(rng, w, h, mode):
    c = MODES[mode]
    kind = rng.integers(3)
    if kind == 0:  # noise: every weight matters
        a = rng.integers(0, 256, (h, w, c))
    else:  # smooth field, hard-edged block, a little noise: photo-like
        gy = np.linspace(0, 1, h)[:, None, None]
        gx = np.linspace(0, 1, w)[None, :, None]
        base = rng.uniform(0, 255, (1, 1, c)) * gx + rng.uniform(0, 255, (1, 1, c)) * gy
        a = base / 2 + rng.normal(0, 4 if kind == 1 else 20, (h, w, c))
        y0, x0 = h // 3, w // 4
        a[y0:h - y0, x0:w - x0] = rng.uniform(0, 255, c)
    a = np.clip(a, 0, 255).astype(np.uint8)
    if mode == "RGBA" and rng.integers(2):  # some fully transparent, some opaque
        alpha = a[:, :, 3]
        alpha[rng.random((h, w)) < 0.2] = 0
        alpha[rng.random((h, w)) < 0.2] = 255
    return a


def random_size(rng):
    r = rng.random()
    if r < 0.15:
        return int(rng.integers(1, 4))
    if r < 0.6:
        return int(rng.integers(1, 200))
    return int(rng.integers(200, 1500))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--cases", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tool = os.path.join(args.build, "tests", "resample_run")
    if not os.path.exists(tool):
        tool = os.path.join(args.build, "resample_run")
    rng = np.random.default_rng(args.seed)
    cases = []
    for i, (sw, sh, dw, dh) in enumerate(FIXED):
        cases.append((sw, sh, dw, dh, list(MODES)[i % 3]))
    while len(cases) < len(FIXED) + args.cases:
        cases.append((random_size(rng), random_size(rng), random_size(rng), random_size(rng),
                      list(MODES)[int(rng.integers(3))]))
    total = same = 0
    worst = 0
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        src_path, out_path = os.path.join(tmp, "in.raw"), os.path.join(tmp, "out.raw")
        for sw, sh, dw, dh, mode in cases:
            a = make_image(rng, sw, sh, mode)
            im = Image.fromarray(a[:, :, 0] if mode == "L" else a, mode)
            ref = np.array(im.resize((dw, dh), Image.LANCZOS)).reshape(dh, dw, MODES[mode])
            rawio.write(src_path, a)
            for flag in ([], ["--portable"]):
                subprocess.run([tool] + flag + [src_path, out_path, str(dw), str(dh)], check=True)
                got = rawio.read(out_path)
                diff = np.abs(got.astype(int) - ref.astype(int))
                total += diff.size
                same += int((diff == 0).sum())
                worst = max(worst, int(diff.max()))
                if diff.max():
                    failures += 1
                    print(f"DIFF {mode} {sw}x{sh} -> {dw}x{dh} {' '.join(flag) or 'simd'}: "
                          f"max {diff.max()}, {int((diff > 0).sum())} bytes differ")
    print(f"resample vs PIL {Image.__version__}: {len(cases)} cases x 2 implementations, "
          f"{total} bytes, {same / total * 100:.4f}% identical, max difference {worst} levels")
    if failures:
        print(f"FAIL: {failures} runs differ from PIL")
        return 1
    print("PASS: every byte identical to PIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
