"""End-to-end check of build/cutout against an independent rembg-equivalent
pipeline, plus the CLI's behaviour (exit codes, hostile inputs, folders,
stdin/stdout, atomic writes, never overwriting an input).

usage: /usr/bin/python3 tests/pipeline/check_masks.py BUILD_DIR

The reference is rembg's u2netp path written out in Python: PIL decode +
exif_transpose, RGB, PIL LANCZOS to 320x320, / max, ImageNet mean/std
(tests/reference/rembg_input.photo_tensor), the PyTorch reference network
(tests/reference/u2net_arch.py) with the real weights of models/u2netp.onnx,
output 0, (p - min) / (max - min) in float32, (x * 255).astype(uint8), PIL
LANCZOS back to the photo's size.

Tolerances: cutout's forward pass is float32 with a different summation
order (GEMM, Winograd) than PyTorch; the min-max map then goes through a
truncation to 8 bits, so values that straddle an integer move by one level,
and LANCZOS spreads that. One level everywhere would be 1/255 = 0.0039, so a
mean absolute difference of 0.003 of full scale still allows most pixels to
differ by a level while catching any systematic error (wrong normalisation,
wrong resize, wrong output, off-by-one rounding of the whole mask, which
moves the mean by ~0.5 level = 0.002 on top). IoU of mask > 127 >= 0.995:
only boundary pixels may flip. Because a MAD bound of 0.003 would let
rounding instead of truncation through (that shifts about half the pixels
by one level, MAD ~0.002), the share of pixels that differ at all must also
stay under 1%: float noise in the network only moves the few values that sit
within ~1e-5 of an integer step (measured: 0.004-0.11%).
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))

import load_onnx_weights  # noqa: E402
import rembg_input  # noqa: E402
import u2net_arch  # noqa: E402

MODEL = os.path.join(ROOT, "models", "u2netp.onnx")
PHOTOS = [("astronaut", "png"), ("coffee", "jpg"), ("chelsea", "png"), ("rocket", "jpg")]
MAD_MAX = 0.003
IOU_MIN = 0.995
DIFF_FRAC_MAX = 0.01

failures = 0


def check(ok, what):
    global failures
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        failures += 1


def reference_mask(net, path):
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    x = rembg_input.photo_tensor(np.array(img), 320)
    with torch.no_grad():
        pred = net(torch.from_numpy(x)[None])[0][:, 0].numpy()  # float32, like ORT
    ma, mi = np.max(pred), np.min(pred)
    pred = np.squeeze((pred - mi) / (ma - mi))
    mask = Image.fromarray((pred * 255).astype("uint8"), mode="L")
    return np.array(mask.resize(img.size, Image.LANCZOS))


def post_process_reference(mask):
    """rembg's post_process_mask with cv2 replaced by numpy/scipy:
    opening with the 3x3 cross (pixels outside the image ignored, as cv2's
    default border: cval 255 for erosion, 0 for dilation); a 5x5 Gaussian
    with sigma 2 in floating point (cv2.getGaussianKernel's formula,
    exp(-x^2 / (2 sigma^2)) normalised) over a reflect-101 border (numpy
    pad mode "reflect"), rounded; then 0 below 127, 255 elsewhere. OpenCV's
    8-bit path uses 8-bit fixed-point taps, so a pixel whose blurred value
    is within a fraction of a level of 126.5 may land on the other side:
    the caller allows a tiny fraction of differing pixels."""
    from scipy import ndimage
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    m = ndimage.grey_erosion(mask, footprint=cross, mode="constant", cval=255)
    m = ndimage.grey_dilation(m, footprint=cross, mode="constant", cval=0).astype(np.float64)
    k = np.exp(-(np.arange(5) - 2.0) ** 2 / 8.0)
    k /= k.sum()
    p = np.pad(m, 2, mode="reflect")
    h = sum(k[i] * p[:, i:i + m.shape[1]] for i in range(5))
    v = sum(k[i] * h[i:i + m.shape[0], :] for i in range(5))
    v = np.floor(v + 0.5)
    return np.where(v < 127, 0, 255).astype(np.uint8)


def opencl_gpu_count():
    """GPU and accelerator devices over every OpenCL platform, asked of the
    ICD loader directly (not through cutout), so the --require-gpu check
    knows independently what the answer must be. 0 without libOpenCL."""
    import ctypes
    try:
        cl = ctypes.CDLL("libOpenCL.so.1")
    except OSError:
        return 0
    CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_ACCELERATOR = 1 << 2, 1 << 3
    n = ctypes.c_uint(0)
    if cl.clGetPlatformIDs(0, None, ctypes.byref(n)) != 0 or n.value == 0:
        return 0
    plats = (ctypes.c_void_p * n.value)()
    cl.clGetPlatformIDs(n.value, plats, None)
    total = 0
    for pl in plats:
        k = ctypes.c_uint(0)
        if cl.clGetDeviceIDs(ctypes.c_void_p(pl), ctypes.c_uint64(
                CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR), 0, None, ctypes.byref(k)) == 0:
            total += k.value
    return total


def run(cli, args, stdin=None):
    env = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "Haswell"))
    p = subprocess.run([cli] + args, input=stdin, capture_output=True, env=env, timeout=300)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    cli = os.path.abspath(os.path.join(build, "cutout"))
    torch.set_num_threads(2)
    net = u2net_arch.build("u2netp").eval()
    load_onnx_weights.load_into(net, MODEL)

    import skimage.data
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "photos")
        os.mkdir(src)
        paths = []
        for name, ext in PHOTOS:
            a = getattr(skimage.data, name)()
            p = os.path.join(src, "%s.%s" % (name, ext))
            Image.fromarray(a).save(p, **({"quality": 92} if ext == "jpg" else {}))
            paths.append(p)

        # Masks of a whole directory (the threaded folder path).
        out = os.path.join(tmp, "masks")
        rc, _, err = run(cli, ["-t", "2", "--mask", src, "-o", out])
        check(rc == 0, "directory of %d photos -> exit 0 (%s)" % (len(paths), err.strip()[:200]))
        for (name, _), p in zip(PHOTOS, paths):
            ref = reference_mask(net, p)
            q = os.path.join(out, name + ".png")
            if not os.path.exists(q):
                check(False, "%s: mask written" % name)
                continue
            got = np.array(Image.open(q))
            if got.shape != ref.shape:
                check(False, "%s: mask shape %s, reference %s" % (name, got.shape, ref.shape))
                continue
            mad = np.mean(np.abs(got.astype(np.int32) - ref.astype(np.int32))) / 255.0
            a, b = got > 127, ref > 127
            iou = (a & b).sum() / max(1, (a | b).sum())
            frac = np.mean(got != ref)
            check(mad <= MAD_MAX and iou >= IOU_MIN and frac <= DIFF_FRAC_MAX,
                  "%s %dx%d: mask MAD %.6f of full scale (<= %.3f), IoU %.5f (>= %.3f), "
                  "max |d| %d, %.4f%% of pixels differ (<= 1%%)"
                  % (name, ref.shape[1], ref.shape[0], mad, MAD_MAX, iou, IOU_MIN,
                     np.abs(got.astype(int) - ref.astype(int)).max(), 100 * frac))

        # --post-process on the same photos vs the numpy rendering of rembg's post_process.
        pp = os.path.join(tmp, "pp")
        rc, _, err = run(cli, ["-t", "2", "--mask", "--post-process", src, "-o", pp])
        check(rc == 0, "--post-process directory -> exit 0")
        for name, _ in PHOTOS:
            raw = np.array(Image.open(os.path.join(out, name + ".png")))
            got = np.array(Image.open(os.path.join(pp, name + ".png")))
            ref = post_process_reference(raw)
            diff = np.mean(got != ref)
            binary = set(np.unique(got)) <= {0, 255}
            # 1e-4: only blurred values within rounding of the threshold may differ.
            check(binary and diff <= 1e-4,
                  "%s: post-process binary, %.6f of pixels differ from numpy rembg (<= 1e-4)"
                  % (name, diff))

        # Cutout RGBA: original RGB, alpha = mask.
        png = paths[0]
        cut = os.path.join(tmp, "cut.png")
        rc, _, _ = run(cli, ["-t", "2", png, "-o", cut])
        rgba = np.array(Image.open(cut)) if rc == 0 and os.path.exists(cut) else None
        mask = np.array(Image.open(os.path.join(out, "astronaut.png")))
        check(rgba is not None and rgba.shape[2] == 4
              and np.array_equal(rgba[:, :, :3], np.array(Image.open(png).convert("RGB")))
              and np.array_equal(rgba[:, :, 3], mask),
              "cutout: RGBA with the original RGB and alpha equal to the --mask output")

        # --png-level: every level (libdeflate 1..3, libpng 4..9, stored 0) writes the
        # default cutout's pixels, as PIL reads them; a higher level is no larger than 0.
        sizes = {}
        for level in (0, 1, 2, 3, 6, 9):
            lp = os.path.join(tmp, "level%d.png" % level)
            rc, _, err = run(cli, ["-t", "2", "--png-level", str(level), png, "-o", lp])
            same = rc == 0 and rgba is not None and np.array_equal(np.array(Image.open(lp)), rgba)
            sizes[level] = os.path.getsize(lp) if rc == 0 else None
            check(same, "--png-level %d: the default cutout's pixels (%s bytes) %s"
                  % (level, sizes[level], err.strip()[:120]))
        check(all(sizes[k] and sizes[0] and sizes[k] < sizes[0] for k in sizes if k),
              "--png-level 1..9 smaller than 0 (stored): %s" % sizes)

        # stdin -> stdout gives the same bytes' image as the file path.
        with open(png, "rb") as f:
            data = f.read()
        rc, so, _ = run(cli, ["-t", "2", "--mask", "-"], stdin=data)
        ok = rc == 0 and so[:8] == b"\x89PNG\r\n\x1a\n"
        if ok:
            sp = os.path.join(tmp, "stdout.png")
            with open(sp, "wb") as f:
                f.write(so)
            ok = np.array_equal(np.array(Image.open(sp)), mask)
        check(ok, "stdin -> stdout: PNG mask equal to the file path's")

        # Composite over a colour as JPEG, crop + margin, max-size.
        jp = os.path.join(tmp, "bg.jpg")
        rc, _, err = run(cli, ["-t", "2", png, "-o", jp, "--bg", "0,255,0", "--crop",
                               "--margin", "5%", "--max-size", "200x200"])
        ok = rc == 0 and os.path.exists(jp)
        if ok:
            im = Image.open(jp)
            ok = im.format == "JPEG" and im.mode == "RGB" and max(im.size) == 200
        check(ok, "--bg --crop --margin --max-size to JPEG: exit 0, RGB JPEG fitted to 200x200 (%s)"
              % err.strip()[:120])

        # Hostile inputs: empty, truncated, text. Each: exit 1, named, nothing written.
        bad = os.path.join(tmp, "bad")
        os.mkdir(bad)
        hostile = {"empty.png": b"", "truncated.png": data[:len(data) // 3],
                   "text.jpg": b"this is not an image\n" * 10}
        for fname, content in hostile.items():
            p = os.path.join(bad, fname)
            with open(p, "wb") as f:
                f.write(content)
            od = os.path.join(tmp, "out-" + fname)
            os.mkdir(od)
            rc, _, err = run(cli, ["-t", "2", p, "-o", od])
            check(rc == 1 and fname in err and os.listdir(od) == [],
                  "hostile %s: exit %d (1), named on stderr, nothing written: %s"
                  % (fname, rc, err.strip().splitlines()[-1][:150] if err.strip() else "(no message)"))

        # A folder with good and bad files: exit 1, the good ones written.
        mixed = os.path.join(tmp, "mixed")
        os.mkdir(mixed)
        for p in paths[:2]:
            os.link(p, os.path.join(mixed, os.path.basename(p)))
        with open(os.path.join(mixed, "zz-broken.png"), "wb") as f:
            f.write(data[:100])
        mo = os.path.join(tmp, "mixed-out")
        rc, _, err = run(cli, ["-t", "2", "--mask", mixed, "-o", mo])
        written = sorted(os.listdir(mo)) if os.path.isdir(mo) else []
        check(rc == 1 and "zz-broken.png" in err and written == ["astronaut.png", "coffee.png"],
              "mixed folder: exit %d (1), the broken file named, good outputs %s" % (rc, written))

        # Never overwrite an input.
        victim = os.path.join(tmp, "victim.png")
        with open(victim, "wb") as f:
            f.write(data)
        rc, _, err = run(cli, ["-t", "2", victim, "-o", victim])
        with open(victim, "rb") as f:
            same = f.read() == data
        check(rc == 1 and same and "overwrite" in err, "output = input refused (exit %d), input intact" % rc)

        # Usage errors -> 2.
        for args in ([], ["--bg", "#12345", png, "-o", cut], ["--no-such-option"],
                     ["--format", "gif", png, "-o", cut], [paths[0], paths[1], "-o", "-"],
                     ["--png-level", "10", png, "-o", cut], ["--png-level", "x", png, "-o", cut]):
            rc, _, err = run(cli, args)
            check(rc == 2, "usage %s -> exit %d (2)" % (args[:2], rc))
        # OpenCL: a mask when the build has it (PoCL counts), else a clear error.
        clp = os.path.join(tmp, "cl.png")
        rc, _, err = run(cli, ["-b", "opencl", "--mask", png, "-o", clp])
        cl_ok = (rc == 0 and np.array(Image.open(clp)).shape == mask.shape) or \
            (rc == 1 and "OpenCL" in err and not os.path.exists(clp))
        check(cl_ok, "-b opencl: exit %d %s" % (rc, err.strip()[:100]))
        # --require-gpu: a GPU runs it, or exit 1 and nothing written; never a
        # silent CPU run. With the cpu backend it is a contradiction.
        # A CPU-only build (make CUTOUT_OPENCL=0) can use no GPU, whatever the machine has.
        gpus = opencl_gpu_count() if os.environ.get("CUTOUT_OPENCL", "1") != "0" else 0
        rgp = os.path.join(tmp, "rg.png")
        rc, _, err = run(cli, ["--require-gpu", "--mask", png, "-o", rgp])
        if gpus:
            rg_ok = rc == 0 and np.array(Image.open(rgp)).shape == mask.shape
        else:
            rg_ok = rc == 1 and "GPU" in err and not os.path.exists(rgp)
        check(rg_ok, "--require-gpu with %d OpenCL GPUs: exit %d %s" % (gpus, rc, err.strip()[:100]))
        rc, _, err = run(cli, ["--require-gpu", "-b", "cpu", "--mask", png, "-o", rgp + "2"])
        check(rc == 1 and "require_gpu" in err and not os.path.exists(rgp + "2"),
              "--require-gpu -b cpu refused: exit %d %s" % (rc, err.strip()[:100]))
        rc, so, _ = run(cli, ["--help"])
        check(rc == 0 and b"EXIT STATUS" in so, "--help: exit 0, manual on stdout")

        # No temporary files left anywhere.
        left = [os.path.join(d, f) for d, _, fs in os.walk(tmp) for f in fs if f.startswith(".cutout-")]
        check(not left, "no temporary files left (%s)" % left[:3])

    print("%s: %d failures" % ("PASS" if failures == 0 else "FAIL", failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
