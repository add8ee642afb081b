#!/bin/sh
# Times rembg's alpha matting at about 2 megapixels: cutout (engine/pipeline/
# matting.c through build/tests/matting_run, N threads) and the scipy reference
# (tests/reference/matting_ref.py: trimap + Laplacian + Jacobi CG; its
# pure-Python foreground is too slow at this size and is not timed).
# The photo: tests/fixtures/rembg/anime-girl-1.jpg upscaled 2x (1700x1202,
# BICUBIC) with rembg's u2netp mask for it upscaled the same way.
#
#   bench/matting_bench.sh [BUILD] [THREADS]
set -eu
BUILD=${1:-build}
THREADS=${2:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 - "$ROOT" "$TMP" <<'PY'
import sys, numpy as np
from PIL import Image
root, tmp = sys.argv[1:]
img = Image.open(root + "/tests/fixtures/rembg/anime-girl-1.jpg").convert("RGB")
mask = Image.open(root + "/tests/fixtures/rembg/anime-girl-1.u2netp.png").getchannel("A")
size = (img.width * 2, img.height * 2)
for name, im in (("rgb", img.resize(size, Image.BICUBIC)), ("mask", mask.resize(size, Image.BICUBIC))):
    a = np.asarray(im)
    with open("%s/%s.raw" % (tmp, name), "wb") as f:
        f.write(b"%d %d %d\n" % (a.shape[1], a.shape[0], 1 if a.ndim == 2 else 3))
        f.write(a.tobytes())
PY
CMD="$BUILD/tests/matting_run --threads $THREADS --repeat 3 $TMP/rgb.raw $TMP/mask.raw 240 10 10 $TMP"
echo "cutout: $CMD"
$CMD
echo "scipy reference (alpha only: trimap, Laplacian rows, Jacobi CG rtol 1e-7):"
/usr/bin/python3 - "$ROOT" "$TMP" <<'PY'
import sys, time, numpy as np
root, tmp = sys.argv[1:]
sys.path.insert(0, root + "/tests/reference")
import matting_ref
def rd(p):
    with open(p, "rb") as f:
        w, h, c = map(int, f.readline().split())
        a = np.frombuffer(f.read(), np.uint8)
    return a.reshape(h, w, c) if c > 1 else a.reshape(h, w)
rgb, mask = rd(tmp + "/rgb.raw"), rd(tmp + "/mask.raw")
t0 = time.time()
trimap = matting_ref.rembg_trimap(mask)
alpha, info = matting_ref.alpha_cf(rgb / 255.0, trimap, solver="cg")
t1 = time.time()
ca = np.fromfile(tmp + "/alpha.f64").reshape(alpha.shape)
d = np.abs(ca - alpha)
print('{"scipy_alpha_seconds": %.2f, "unknown": %d, "cg_iterations": %d, '
      '"cutout_vs_scipy_alpha_mean": %.2e, "max": %.2e}' % (
      t1 - t0, info["unknown"], info["iterations"], d.mean(), d.max()))
PY
