"""dct_check.py DCTMASK OUTDIR PHOTO...: for each JPEG and each DCT scale 1/2, 1/4, 1/8 that
leaves both sides >= 320 (u2netp's input), the mask from the scaled decode against the mask
from the full decode, in the measures of tests/pipeline/check_rembg_fixtures.py (MAD of full
scale, share of pixels within one level). See dctmask.c."""
import os, subprocess, sys, numpy as np
from PIL import Image
tool, out = sys.argv[1], sys.argv[2]
files = sys.argv[3:]
os.makedirs(out, exist_ok=True)
for f in files:
    im0 = Image.open(f); W, H = im0.size
    for s in (2, 4, 8):
        im = Image.open(f); im.draft('RGB', (W // s, H // s)); im.load()
        w, h = im.size
        if w < 320 or h < 320 or (w, h) == (W, H): continue
        png = os.path.join(out, 'scaled.png'); im.save(png)
        r = subprocess.run([tool, 'u2netp', f, png, out + '/full.raw', out + '/dct.raw'], capture_output=True, text=True)
        if r.returncode: print(r.stderr); continue
        a = np.fromfile(out + '/full.raw', np.uint8).astype(int); b = np.fromfile(out + '/dct.raw', np.uint8).astype(int)
        d = abs(a - b)
        print("%s %dx%d 1/%d (%dx%d): MAD %.2e of full scale, within one level %.3f%%, max |d| %d, IoU(>127) %.5f" % (
            os.path.basename(f), W, H, s, w, h, d.mean() / 255, 100 * np.mean(d <= 1), d.max(),
            np.sum((a > 127) & (b > 127)) / max(1, np.sum((a > 127) | (b > 127)))), flush=True)
