"""u2net_cloth_seg's post-processing (cutout_pipeline_class_map and
cutout_pipeline_class_mask, through BUILD/tests/class_mask_run) against a
transcription of rembg's Unet2ClothSession.predict (rembg/sessions/
u2net_cloth_seg.py) in numpy + PIL, on synthetic 4-channel outputs.

usage: /usr/bin/python3 tests/pipeline/check_cloth_masks.py BUILD_DIR

The network is not involved (the reference suite checks the 4-channel head
against PyTorch); this checks the argmax, the 8-bit class image, its LANCZOS
resize to the photo's size and the palette step, exactly (byte for byte),
with sizes that enlarge, shrink and change the aspect, and with ties between
channels (numpy's argmax takes the first).
Prints one line per case and "N passed, N failed".
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "image"))
import rawio  # noqa: E402

PALETTES = {
    1: [0, 0, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0],  # upper
    2: [0, 0, 0, 0, 0, 0, 255, 255, 255, 0, 0, 0],  # lower
    3: [0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255],  # full
}


def rembg_masks(ort_out, size):
    """rembg's predict() from ort_outs[0] on: returns {class: mask array}."""
    pred = np.argmax(ort_out, axis=1, keepdims=True)
    pred = np.squeeze(pred, 0)
    pred = np.squeeze(pred, 0)
    mask = Image.fromarray(pred.astype("uint8"), mode="L")
    mask = mask.resize(size, Image.Resampling.LANCZOS)
    out = {}
    for cls, pal in PALETTES.items():
        m = mask.copy()
        m.putpalette(pal)
        out[cls] = np.array(m.convert("RGB").convert("L"))
    return out


def synthetic(seed, s, ties):
    """Blobs per class, like a segmentation: smooth random fields."""
    rng = np.random.default_rng(seed)
    small = rng.normal(size=(1, 4, s // 16 + 2, s // 16 + 2)).astype(np.float32)
    out = np.kron(small, np.ones((16, 16), np.float32))[:, :, :s, :s]
    out += rng.normal(scale=0.05, size=out.shape).astype(np.float32)
    if ties:
        out[:, 2, ::7, :] = out[:, 1, ::7, :]  # exact ties on every 7th row
    return np.ascontiguousarray(out)


def run_case(build, tmp, name, seed, s, w, h, ties=False):
    out = synthetic(seed, s, ties)
    pred_path = os.path.join(tmp, name + ".f32")
    out[0].astype("=f4").tofile(pred_path)
    prefix = os.path.join(tmp, name)
    p = subprocess.run([os.path.join(build, "tests", "class_mask_run"), pred_path, "4", str(s),
                        str(w), str(h), prefix], capture_output=True, text=True)
    if p.returncode != 0:
        return False, "FAIL %s class_mask_run exit %d: %s" % (name, p.returncode, p.stderr.strip())
    ref = rembg_masks(out, (w, h))
    worst = []
    for cls in (1, 2, 3):
        got = rawio.read("%s-%d.raw" % (prefix, cls))[:, :, 0]
        if got.shape != ref[cls].shape:
            return False, "FAIL %s class %d: shape %s, rembg %s" % (name, cls, got.shape,
                                                                    ref[cls].shape)
        diff = int((got != ref[cls]).sum())
        if diff:
            y, x = np.argwhere(got != ref[cls])[0]
            return False, "FAIL %s class %d: %d pixels differ, first at y=%d x=%d (got %d, " \
                "rembg %d)" % (name, cls, diff, y, x, got[y, x], ref[cls][y, x])
        worst.append(int((ref[cls] == 255).sum()))
    grey = int(sum(((r > 0) & (r < 255)).sum() for r in ref.values()))
    return True, "ok %s exact; class pixels %s; overshoot pixels %d" % (name, worst, grey)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    cases = [
        ("up_768_to_1000x1400", 1, 768, 1000, 1400),
        ("down_768_to_301x207", 2, 768, 301, 207),
        ("aspect_96_to_640x97", 3, 96, 640, 97),
        ("ties_96_to_123x321", 4, 96, 123, 321, True),
    ]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for c in cases:
            ok, line = run_case(build, tmp, *c)
            print(line)
            passed += ok
            failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
