#!/usr/bin/python3
"""bench/make-photos.py OUTDIR [N]: the photo folder of the end-to-end benchmark.

Real photographs shipped with scikit-image (astronaut, coffee, chelsea, rocket,
the left view of stereo_motorcycle; all load without network), UPSCALED with
PIL's LANCZOS to N sizes spread evenly from 1 to 12 megapixels (aspect ratio of
the source kept), saved as baseline JPEG quality 90. N defaults to 24.

They are upscales of 0.1-0.4 MP originals, so they are smoother than camera
photos of the same size: JPEG decode, resize and PNG encode costs depend on the
pixel count, which is what the benchmark varies; the content is real.

Deterministic: fixed subjects, sizes and encoder settings, no randomness (bytes
can differ between PIL/libjpeg versions). Prints one line per file and a total.
"""
import math
import os
import sys

import skimage.data as data
from PIL import Image

SUBJECTS = [
    ("astronaut", lambda: data.astronaut()),
    ("coffee", lambda: data.coffee()),
    ("chelsea", lambda: data.chelsea()),
    ("rocket", lambda: data.rocket()),
    ("motorcycle", lambda: data.stereo_motorcycle()[0]),
]
MIN_MP, MAX_MP = 1.0, 12.0


def size_for(mp, w0, h0):
    """Width and height with the source's aspect ratio and about mp megapixels,
    nudged so that the pixel count stays inside [MIN_MP, MAX_MP]."""
    aspect = w0 / h0
    w = round(math.sqrt(mp * 1e6 * aspect))
    h = round(w / aspect)
    while w * h < MIN_MP * 1e6:
        w += 1
        h = round(w / aspect)
    while w * h > MAX_MP * 1e6:
        w -= 1
        h = round(w / aspect)
    return w, h


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: make-photos.py OUTDIR [N]")
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 24
    if n < 2:
        sys.exit("N must be at least 2")
    os.makedirs(out, exist_ok=True)
    sources = [(name, Image.fromarray(load()).convert("RGB")) for name, load in SUBJECTS]
    total = 0
    for i in range(n):
        name, src = sources[i % len(sources)]
        mp = MIN_MP + (MAX_MP - MIN_MP) * i / (n - 1)
        w, h = size_for(mp, *src.size)
        path = os.path.join(out, "%02d-%s-%dx%d.jpg" % (i, name, w, h))
        src.resize((w, h), Image.LANCZOS).save(path, quality=90)
        total += w * h
        print("%s %.2f MP (upscaled from %dx%d)" % (path, w * h / 1e6, *src.size))
    print("total %d files, %.1f MP" % (n, total / 1e6))


if __name__ == "__main__":
    main()
