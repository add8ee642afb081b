#!/usr/bin/python3
"""Compares cutout_image_decode with PIL (Image.open + ImageOps.exif_transpose +
convert) on generated PNG, JPEG and WebP files, and feeds it hostile files.

Fixtures are generated in a temporary directory at run time:
  PNG   every colour type and bit depth (grey 1/2/4/8/16, RGB 8/16, palette
        1/2/4/8, grey+alpha 8/16, RGBA 8/16), tRNS, out-of-range palette
        indices, PNG filters, Adam7 interlacing, split IDATs -- written by
        tests/image/pngwrite.py (PIL cannot write most of these) -- plus
        PNGs PIL writes itself; eXIf orientations.
  JPEG  baseline and progressive, 4:4:4 / 4:2:2 / 4:2:0, odd sizes, grey,
        CMYK (Adobe), EXIF orientations 1-8, photos from skimage.data.
  WebP  lossy, lossless, with alpha, animated (first frame + warning), EXIF.
Expected pixels come from PIL 9.4 except where PIL is known to be wrong
(tRNS on 1/2/4/16-bit PNGs, 16-bit grey); there the expectation is computed
from the samples we wrote, as the PNG spec defines it.

Tolerance: zero. PIL decodes JPEG with the same libjpeg-turbo and the same
settings (ISLOW DCT, fancy upsampling) and WebP with the same libwebp, so
any difference is a bug, not rounding.

Hostile inputs: every truncation of several files (a prefix that decodes
must equal the full image: no half-grey results), random byte corruption,
lying headers (100000x100000 PNG, 65000x65000 JPEG, WebP), text, empty.
Each must give an error code with a message and no crash (run the tool
from an -fsanitize=address,undefined build to check memory safety).

    /usr/bin/python3 tests/image/check_decode.py [BUILD_DIR] [--quick]
"""

import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pngwrite  # noqa: E402
import rawio  # noqa: E402

E_FORMAT, E_UNSUPPORTED, E_LIMIT = -3, -4, -7


class Checker:
    def __init__(self, tool, tmp):
        self.tool, self.tmp = tool, tmp
        self.passed = self.failed = 0
        self.stats = {}

    def run(self, data, extra=()):
        path = os.path.join(self.tmp, "in.bin")
        out = os.path.join(self.tmp, "out.raw")
        with open(path, "wb") as f:
            f.write(data)
        if os.path.exists(out):
            os.remove(out)
        p = subprocess.run([self.tool, "decode", *extra, path, out], capture_output=True, text=True)
        if p.returncode != 0 or p.stderr:
            raise RuntimeError(f"tool failed (status {p.returncode}): {p.stderr.strip()}")
        r = json.loads(p.stdout)
        r["pixels"] = rawio.read(out) if r["rc"] == 0 else None
        return r

    def ok(self, cond, name, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")
        return cond

    def compare(self, name, data, expected, extra=(), group=None, **want):
        r = self.run(data, extra)
        if not self.ok(r["rc"] == 0, name, f"rc {r['rc']} {r['error']}"):
            return r
        got = r["pixels"]
        exp = expected if expected.ndim == 3 else expected[:, :, None]
        if got.shape != exp.shape:
            self.ok(False, name, f"shape {got.shape} != {exp.shape}")
            return r
        d = np.abs(got.astype(int) - exp.astype(int))
        g = self.stats.setdefault(group or name.split()[0], [0, 0, 0])
        g[0] += 1
        g[1] += int((d == 0).sum()) / d.size == 1.0
        g[2] = max(g[2], int(d.max()))
        self.ok(d.max() == 0, name, f"max diff {d.max()}, {int((d > 0).sum())} bytes differ")
        for k, v in want.items():
            self.ok(r[k] == v, name, f"{k} = {r[k]!r}, expected {v!r}")
        return r

    def fails(self, name, data, code=None, extra=(), contains=None):
        r = self.run(data, extra)
        good = r["rc"] < 0 and r["error"] and (code is None or r["rc"] == code)
        if good and contains:
            good = contains in r["error"]
        self.ok(good, name, f"rc {r['rc']} error {r['error']!r}")
        return r


def pil_reference(data, channels):
    """What rembg sees: open, exif_transpose, convert to our channel count."""
    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    return np.array(im.convert(mode))


def pil_bytes(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def photo(rng, h, w, c=3):
    """Smooth colour fields with edges and noise (JPEG-friendly content)."""
    gy = np.linspace(0, 1, h)[:, None, None]
    gx = np.linspace(0, 1, w)[None, :, None]
    a = rng.uniform(0, 255, (1, 1, c)) * gx + rng.uniform(0, 255, (1, 1, c)) * (1 - gy)
    a = a * 0.7 + rng.normal(0, 12, (h, w, c))
    a[h // 3: 2 * h // 3, w // 4: 3 * w // 4] = rng.uniform(0, 255, c)
    return np.clip(a, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- PNG

def check_png(ck, rng):
    h, w = 23, 37  # odd sizes: partial bytes at low bit depths, partial Adam7 passes
    for interlace in (False, True):
        il = " interlaced" if interlace else ""
        for ct, depths in ((0, (1, 2, 4, 8, 16)), (2, (8, 16)), (3, (1, 2, 4, 8)),
                           (4, (8, 16)), (6, (8, 16))):
            for depth in depths:
                c = pngwrite.CHANNELS[ct]
                s = rng.integers(0, 2 ** depth, (h, w, c))
                pal = None
                if ct == 3:
                    n = min(2 ** depth, 256)
                    s = rng.integers(0, n, (h, w, 1))
                    pal = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(n)]
                filt = int(rng.integers(0, 4))
                data = pngwrite.encode(s, depth, ct, palette=pal, interlace=interlace, filt=filt)
                name = f"PNG ct{ct} {depth}-bit{il}"
                if ct == 0 and depth == 16:
                    # PIL clips 16-bit grey to 255: matched only with the flag
                    ck.compare(name + " (PIL clip)", data, pil_reference(data, 1),
                               extra=["--gray16-clip"])
                    ck.compare(name + " (scaled)", data, (s[:, :, 0] >> 8).astype(np.uint8),
                               group="PNG")
                    continue
                out_c = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}[ct]
                ck.compare(name, data, pil_reference(data, out_c), has_alpha=int(out_c == 4))
                # tRNS
                if ct in (0, 2):
                    key = s[h // 2, w // 2]
                    trns = b"".join(struct.pack(">H", int(v)) for v in key)
                    data = pngwrite.encode(s, depth, ct, trns=trns, interlace=interlace, filt=filt)
                    rgb = pil_reference(data, 3)
                    alpha = np.where((s == key).all(axis=2), 0, 255).astype(np.uint8)
                    exp = np.dstack([rgb, alpha])
                    if depth == 8:  # PIL is right here: compare with it directly
                        exp = pil_reference(data, 4)
                    ck.compare(name + " tRNS", data, exp, group="PNG", has_alpha=1)
                if ct == 3:
                    ntr = max(1, len(pal) // 2)
                    trns = bytes(int(v) for v in rng.integers(0, 256, ntr))
                    data = pngwrite.encode(s, depth, ct, palette=pal, trns=trns, interlace=interlace)
                    ck.compare(name + " tRNS", data, pil_reference(data, 4), group="PNG")
    # palette shorter than the indices used (PIL shows index i as grey i)
    s = rng.integers(0, 256, (h, w, 1))
    data = pngwrite.encode(s, 8, 3, palette=[(255, 0, 0), (0, 0, 255)])
    ck.compare("PNG palette index beyond PLTE", data, pil_reference(data, 3))
    # many small IDAT chunks
    s = rng.integers(0, 256, (h, w, 3))
    data = pngwrite.encode(s, 8, 2, idat_split=7)
    ck.compare("PNG split IDAT", data, pil_reference(data, 3))
    # PNGs written by PIL
    a = photo(rng, 61, 47)
    for mode in ("1", "L", "P", "RGB", "RGBA", "LA", "I;16"):
        im = Image.fromarray(a).convert("RGBA" if mode == "LA" else "RGB")
        if mode == "RGBA":
            im.putalpha(Image.fromarray(rng.integers(0, 256, (61, 47), dtype=np.uint8)))
        if mode == "P":
            im = im.quantize(colors=int(rng.integers(2, 200)))
        elif mode == "I;16":
            im = Image.fromarray((np.array(im.convert("L")).astype(np.uint16) * 257), "I;16")
        else:
            im = im.convert(mode)
        data = pil_bytes(im, "PNG")
        out_c = 4 if mode in ("RGBA", "LA") else 3 if mode in ("P", "RGB") else 1
        extra = ["--gray16-clip"] if mode == "I;16" else []
        ck.compare(f"PNG from PIL mode {mode}", data, pil_reference(data, out_c), extra=extra,
                   group="PNG")
    # APNG: the IDAT image, as PIL shows it, and a warning
    frames = [Image.fromarray(photo(rng, 23, 37)) for _ in range(3)]
    for default_image in (False, True):
        data = pil_bytes(frames[0], "PNG", save_all=True, append_images=frames[1:],
                         default_image=default_image)
        r = ck.compare(f"APNG default_image={default_image}", data, pil_reference(data, 3),
                       group="PNG")
        ck.ok("first frame" in r.get("warning", ""), "APNG warning", r.get("warning"))
    # eXIf orientation
    for o in range(1, 9):
        e = Image.Exif()
        e[0x0112] = o
        im = Image.fromarray(photo(rng, 23, 37))
        data = pil_bytes(im, "PNG", exif=e)
        ck.compare(f"PNG eXIf orientation {o}", data, pil_reference(data, 3), group="orientation",
                   orientation=o)


# ---------------------------------------------------------------- JPEG

def check_jpeg(ck, rng):
    import skimage.data
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    for i, a in enumerate(photos):
        for kw in ({"quality": 90}, {"quality": 60, "progressive": True},
                   {"quality": 95, "subsampling": 0}, {"quality": 75, "subsampling": 1},
                   {"quality": 85, "optimize": True}):
            data = pil_bytes(Image.fromarray(a), "JPEG", **kw)
            ck.compare(f"JPEG photo{i} {kw}", data, pil_reference(data, 3), group="JPEG")
    for (h, w) in ((1, 1), (23, 37), (17, 9), (250, 333)):
        a = photo(rng, h, w)
        for kw in ({"quality": 90}, {"quality": 80, "progressive": True},
                   {"quality": 90, "subsampling": 1}):
            data = pil_bytes(Image.fromarray(a), "JPEG", **kw)
            ck.compare(f"JPEG {w}x{h} {kw}", data, pil_reference(data, 3), group="JPEG")
        data = pil_bytes(Image.fromarray(a).convert("L"), "JPEG", quality=90)
        ck.compare(f"JPEG grey {w}x{h}", data, pil_reference(data, 1), group="JPEG")
        data = pil_bytes(Image.fromarray(a).convert("CMYK"), "JPEG", quality=90)
        ck.compare(f"JPEG CMYK {w}x{h}", data, pil_reference(data, 3), group="JPEG CMYK")
    # CMYK with real K and chroma variety, not just PIL's RGB->CMYK (K = 0)
    cmyk = rng.integers(0, 256, (40, 56, 4), dtype=np.uint8)
    data = pil_bytes(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)
    ck.compare("JPEG CMYK random", data, pil_reference(data, 3), group="JPEG CMYK")
    for o in range(1, 9):
        e = Image.Exif()
        e[0x0112] = o
        im = Image.fromarray(photo(rng, 23, 37))
        data = pil_bytes(im, "JPEG", exif=e.tobytes(), quality=90)
        ck.compare(f"JPEG EXIF orientation {o}", data, pil_reference(data, 3), group="orientation",
                   orientation=o)
        data = pil_bytes(im.convert("L"), "JPEG", exif=e.tobytes(), progressive=True)
        ck.compare(f"JPEG grey progressive EXIF orientation {o}", data, pil_reference(data, 1),
                   group="orientation", orientation=o)


# ---------------------------------------------------------------- WebP

def check_webp(ck, rng):
    a = photo(rng, 61, 47)
    alpha = Image.fromarray(rng.integers(0, 256, (61, 47), dtype=np.uint8))
    rgba = Image.fromarray(a).convert("RGBA")
    rgba.putalpha(alpha)
    for q in (50, 90):
        data = pil_bytes(Image.fromarray(a), "WEBP", quality=q)
        ck.compare(f"WebP lossy q{q}", data, pil_reference(data, 3), has_alpha=0, group="WebP")
        data = pil_bytes(rgba, "WEBP", quality=q)
        ck.compare(f"WebP lossy+alpha q{q}", data, pil_reference(data, 4), has_alpha=1,
                   group="WebP")
    data = pil_bytes(Image.fromarray(a), "WEBP", lossless=True)
    ck.compare("WebP lossless", data, pil_reference(data, 3), group="WebP")
    ck.compare("WebP lossless exact", data, a, group="WebP")
    data = pil_bytes(rgba, "WEBP", lossless=True)
    ck.compare("WebP lossless+alpha", data, pil_reference(data, 4), group="WebP")
    frames = [Image.fromarray(photo(rng, 61, 47)) for _ in range(3)]
    data = pil_bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100,
                     quality=80)
    r = ck.compare("WebP animated", data, pil_reference(data, 3), group="WebP", frames=3)
    ck.ok("first frame" in r.get("warning", ""), "WebP animated warning", r.get("warning"))
    fr = [f.convert("RGBA") for f in frames]
    for f in fr:
        f.putalpha(alpha)
    data = pil_bytes(fr[0], "WEBP", save_all=True, append_images=fr[1:], lossless=True)
    ck.compare("WebP animated alpha", data, pil_reference(data, 4), group="WebP", frames=3)
    for o in range(1, 9):
        e = Image.Exif()
        e[0x0112] = o
        data = pil_bytes(Image.fromarray(a), "WEBP", exif=e.tobytes(), quality=80)
        ck.compare(f"WebP EXIF orientation {o}", data, pil_reference(data, 3), group="orientation",
                   orientation=o)


# ---------------------------------------------------------------- hostile

# ---------------------------------------------------------------- BMP

def bmp_file(w, h, bits, pixels, palette=None, compression=0, masks=None, header=40,
             top_down=False, colors=None, offset=None):
    """A BMP written by hand (PIL writes only 1/8/24/32-bit BI_RGB): pixels is
    the pixel array as stored (rows padded, bottom-up unless top_down) or
    the RLE stream; palette a list of (r, g, b)."""
    pal = b""
    if palette is not None:
        pad = 3 if header == 12 else 4
        pal = b"".join(bytes((b_, g, r)) + (b"\0" if pad == 4 else b"") for r, g, b_ in palette)
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        hh = (-h) & 0xFFFFFFFF if top_down else h
        ncol = len(palette) if colors is None and palette is not None else (colors or 0)
        info = struct.pack("<IiIHHIIiiII", header, w, hh, 1, bits, compression, len(pixels),
                           2835, 2835, ncol, 0)
        extra = b""
        if header > 40:
            m = list(masks or (0, 0, 0, 0)) + [0] * 4
            extra = struct.pack("<IIII", *m[:4])
            extra += bytes(header - 40 - len(extra))
        elif masks is not None:
            pal = struct.pack("<III", *masks[:3]) + pal
        info += extra
    off = 14 + len(info) + len(pal) if offset is None else offset
    head = b"BM" + struct.pack("<IHHI", off + len(pixels), 0, 0, off)
    return head + info + pal + pixels


def bmp_rows(rows, bytes_per_row, bottom_up=True):
    stride = (bytes_per_row + 3) & ~3
    out = [bytes(r) + bytes(stride - len(r)) for r in rows]
    return b"".join(reversed(out) if bottom_up else out)


def pack_bits(idx, bits):
    """One row of palette indices, MSB first."""
    per = 8 // bits
    out = bytearray((len(idx) * bits + 7) // 8)
    for i, v in enumerate(idx):
        out[i // per] |= int(v) << (8 - bits - (i % per) * bits)
    return out


def check_bmp(ck, rng):
    # what PIL writes: 1-bit, 8-bit grey and palette, 24-bit, 32-bit (from RGBA)
    a = photo(rng, 37, 53)
    for name, im in [("BMP 24-bit", Image.fromarray(a)),
                     ("BMP 8-bit grey", Image.fromarray(a).convert("L")),
                     ("BMP 8-bit palette", Image.fromarray(a).quantize(77)),
                     ("BMP 1-bit", Image.fromarray(a).convert("1")),
                     ("BMP 32-bit from RGBA", Image.fromarray(a).convert("RGBA"))]:
        data = pil_bytes(im, "BMP")
        ref = Image.open(io.BytesIO(data))
        ch = {"L": 1, "1": 1, "RGBA": 4}.get(ref.mode, 3)
        ck.compare(name, data, pil_reference(data, ch), group="BMP")
    w, h = 29, 17
    pal16 = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(16)]
    idx = rng.integers(0, 16, (h, w))
    rows4 = [pack_bits(r, 4) for r in idx]
    cases = {
        "BMP 4-bit palette": bmp_file(w, h, 4, bmp_rows(rows4, (w * 4 + 7) // 8), pal16),
        "BMP 4-bit top-down": bmp_file(w, h, 4, bmp_rows(rows4, (w * 4 + 7) // 8, False), pal16,
                                       top_down=True),
        # indices past a 5-colour palette: PIL shows index i as grey i
        "BMP 8-bit short palette": bmp_file(w, h, 8, bmp_rows(
            [rng.integers(0, 9, w).astype(np.uint8) for _ in range(h)], w), pal16[:5]),
        "BMP OS/2 header 24-bit": bmp_file(w, h, 24, bmp_rows(
            [rng.integers(0, 256, 3 * w).astype(np.uint8) for _ in range(h)], 3 * w), header=12),
        # the OS/2 header has no colour count: always 256 entries
        "BMP OS/2 header 8-bit": bmp_file(w, h, 8, bmp_rows(
            [rng.integers(0, 256, w).astype(np.uint8) for _ in range(h)], w),
            [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(256)], header=12),
        "BMP 16-bit 5-5-5": bmp_file(w, h, 16, bmp_rows(
            [rng.integers(0, 256, 2 * w).astype(np.uint8) for _ in range(h)], 2 * w)),
        "BMP 16-bit 5-6-5 bitfields": bmp_file(w, h, 16, bmp_rows(
            [rng.integers(0, 256, 2 * w).astype(np.uint8) for _ in range(h)], 2 * w),
            compression=3, masks=(0xF800, 0x7E0, 0x1F)),
        "BMP 32-bit BGRA bitfields v4": bmp_file(w, h, 32, bmp_rows(
            [rng.integers(0, 256, 4 * w).astype(np.uint8) for _ in range(h)], 4 * w),
            compression=3, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000), header=108),
        "BMP 32-bit RGBA bitfields v5 top-down": bmp_file(w, h, 32, bmp_rows(
            [rng.integers(0, 256, 4 * w).astype(np.uint8) for _ in range(h)], 4 * w, False),
            compression=3, masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000), header=124, top_down=True),
        "BMP 32-bit XBGR bitfields": bmp_file(w, h, 32, bmp_rows(
            [rng.integers(0, 256, 4 * w).astype(np.uint8) for _ in range(h)], 4 * w),
            compression=3, masks=(0xFF000000, 0xFF0000, 0xFF00)),
    }
    # RLE8: encoded runs (one clipped at the row's end), absolute runs with
    # padding, end of line, end of bitmap
    rle8 = bytearray()
    for y in range(h):
        rle8 += bytes((5, y % 16, 3, (y + 1) % 16))
        rle8 += bytes((0, 5)) + bytes(int(v) for v in rng.integers(0, 16, 5)) + b"\0"
        rle8 += bytes((0, 4)) + bytes(int(v) for v in rng.integers(0, 16, 4))
        if y % 3 == 0:
            rle8 += bytes((200, 7))  # longer than the row: clipped
        else:
            rle8 += bytes((0, 0))
    rle8 += bytes((0, 1))
    cases["BMP RLE8"] = bmp_file(w, h, 8, bytes(rle8), pal16, compression=1)
    rle4 = bytearray()
    for y in range(h):
        rle4 += bytes((7, 0x3A))
        rle4 += bytes((0, 6)) + bytes(int(v) for v in rng.integers(0, 256, 3)) + b"\0"
        rle4 += bytes((0, 0))
    rle4 += bytes((0, 1))
    cases["BMP RLE4"] = bmp_file(w, h, 4, bytes(rle4), pal16, compression=2)
    for name, data in cases.items():
        ref = Image.open(io.BytesIO(data))
        ch = {"L": 1, "1": 1, "RGBA": 4}.get(ref.mode, 3)
        ck.compare(name, data, pil_reference(data, ch), group="BMP")
    # hostile headers and data
    good = cases["BMP 4-bit palette"]
    limits = ["--limits", "40000000,12000,8"]
    big = bytearray(good)
    struct.pack_into("<ii", big, 18, 100000, 100000)
    ck.fails("BMP 100000x100000 header", bytes(big), E_LIMIT, limits, "exceeds the maximum")
    ck.fails("BMP 100000x100000 header, no limits", bytes(big), E_FORMAT, contains="truncated")
    rle_big = bytearray(cases["BMP RLE8"])
    struct.pack_into("<ii", rle_big, 18, 30000, 30000)
    ck.fails("BMP RLE 30000x30000 from a few bytes", bytes(rle_big), E_FORMAT)
    ck.fails("BMP RLE8 stream cut short", cases["BMP RLE8"][:-60], E_FORMAT, contains="RLE")
    ck.fails("BMP palette past the end", bmp_file(w, h, 8, b"", pal16, colors=5000)[:400],
             E_FORMAT)
    ck.fails("BMP pixel data cut short", good[:-10], E_FORMAT, contains="truncated")
    ck.fails("BMP header size 52", good[:14] + b"\x34" + good[15:], E_UNSUPPORTED)
    ck.fails("BMP 0-wide", good[:18] + b"\0\0\0\0" + good[22:], E_FORMAT)
    ck.fails("BMP unsupported bitfields", bmp_file(w, h, 32, bytes(4 * w * h), compression=3,
             masks=(0xF00, 0xF0, 0xF)), E_UNSUPPORTED, contains="bitfields")
    ck.fails("BMP magic only", b"BM", E_FORMAT, contains="truncated")
    tiff = pil_bytes(Image.fromarray(a), "TIFF")
    ck.fails("TIFF refused", tiff, E_UNSUPPORTED, contains="TIFF is not supported; convert to PNG")


def check_hostile(ck, rng, quick):
    a = photo(rng, 33, 45)
    rgba = Image.fromarray(a).convert("RGBA")
    files = {
        "PNG": pil_bytes(Image.fromarray(a), "PNG"),
        "PNG interlaced": pngwrite.encode(a, 8, 2, interlace=True),
        "JPEG": pil_bytes(Image.fromarray(a), "JPEG", quality=90),
        "JPEG progressive": pil_bytes(Image.fromarray(a), "JPEG", quality=90, progressive=True),
        "WebP": pil_bytes(Image.fromarray(a), "WEBP", quality=80),
        "WebP lossless alpha": pil_bytes(rgba, "WEBP", lossless=True),
        "BMP": pil_bytes(Image.fromarray(a), "BMP"),
        "BMP palette": pil_bytes(Image.fromarray(a).quantize(50), "BMP"),
    }
    trunc_stats = {}
    for name, data in files.items():
        full = ck.run(data)["pixels"]
        step = max(1, len(data) // (40 if quick else 400))
        ok_prefix = 0
        for n in list(range(0, len(data) - 1, step)) + [len(data) - 2, len(data) - 1]:
            r = ck.run(data[:n])
            if r["rc"] == 0:  # a decodable prefix must be the whole image
                ok_prefix += 1
                ck.ok(np.array_equal(r["pixels"], full), f"{name} truncated at {n}",
                      "decoded a prefix to different pixels")
            else:
                ck.ok(r["error"] != "" and r["rc"] in (E_FORMAT, E_UNSUPPORTED),
                      f"{name} truncated at {n}", f"rc {r['rc']} {r['error']!r}")
        trunc_stats[name] = ok_prefix
        # random corruption: any result, but no crash and a message on error
        for i in range(10 if quick else 60):
            b = bytearray(data)
            for _ in range(int(rng.integers(1, 8))):
                b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
            r = ck.run(bytes(b))
            ck.ok(r["rc"] == 0 or r["error"] != "", f"{name} corrupted #{i}", "no message")
    print("  truncations that still decode (all identical to the full image): " +
          ", ".join(f"{k}: {v}" for k, v in trunc_stats.items()))

    limits = ["--limits", "40000000,12000,8"]
    # lying headers
    png = files["PNG"]
    ihdr = struct.pack(">II", 100000, 100000) + png[24:29]
    big = png[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + png[33:]
    r = ck.fails("PNG 100000x100000 header", big, E_LIMIT, limits,
                 "100000x100000 exceeds the maximum dimension")
    print(f"  e.g. {r['error']}")
    ck.fails("PNG 100000x100000 header, pixel limit", big, E_LIMIT, ["--limits", "40000000,0,0"],
             "exceeds the limit of 40000000 pixels")
    ck.fails("PNG 100000x100000 header, no limits", big, E_FORMAT)
    small = png[:16] + struct.pack(">II", 4, 4) + png[24:29]
    small = small + struct.pack(">I", zlib.crc32(b"IHDR" + small[16:29])) + png[33:]
    ck.fails("PNG 4x4 under min dimension", small, E_LIMIT, limits, "below the minimum")
    zero = png[:16] + struct.pack(">II", 0, 45) + png[24:33]
    ck.fails("PNG 0-wide header", zero, E_FORMAT)
    jpg = files["JPEG"]
    sof = jpg.find(b"\xff\xc0")
    bigj = jpg[:sof + 5] + struct.pack(">HH", 65000, 65000) + jpg[sof + 9:]
    r = ck.fails("JPEG 65000x65000 header", bigj, E_LIMIT, ["--limits", "40000000,0,0"],
                 "65000x65000 exceeds the limit of 40000000 pixels")
    print(f"  e.g. {r['error']}")
    ck.fails("JPEG 65000x65000 header, no limits", bigj, E_FORMAT)
    wide = jpg[:sof + 5] + struct.pack(">HH", 33, 4000) + jpg[sof + 9:]
    ck.fails("JPEG wider than its data", wide, E_FORMAT)
    webp = files["WebP lossless alpha"]  # VP8L: 14-bit sizes at byte 21
    bits = struct.unpack("<I", webp[21:25])[0]
    bits = (bits & ~0x0FFFFFFF) | (16383) | (16383 << 14)
    bigw = webp[:21] + struct.pack("<I", bits) + webp[25:]
    ck.fails("WebP 16384x16384 header", bigw, E_LIMIT, limits)
    ck.fails("WebP 16384x16384 header, no limits", bigw, E_FORMAT)
    # not images
    ck.fails("empty input", b"", E_UNSUPPORTED)
    ck.fails("text", b"hello, this is not an image\n" * 10, E_UNSUPPORTED, contains="not a PNG")
    ck.fails("GIF", b"GIF89a" + bytes(40), E_UNSUPPORTED, contains="GIF")
    ck.fails("PNG magic only", png[:8], E_FORMAT, contains="truncated")
    ck.fails("JPEG magic only", jpg[:3], E_FORMAT)
    ck.fails("RIFF but not WebP", b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(20), E_UNSUPPORTED)
    ck.fails("WebP header, garbage body", b"RIFF\x20\x00\x00\x00WEBPVP8 " + bytes(24), E_FORMAT)
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xff
    ck.fails("PNG IHDR CRC", bytes(bad_crc), E_FORMAT)
    idat = png.find(b"IDAT")
    bad_z = bytearray(png)
    for i in range(idat + 10, idat + 40):
        bad_z[i] ^= 0x55
    ck.fails("PNG corrupt zlib", bytes(bad_z), E_FORMAT)
    sos = jpg.find(b"\xff\xda")
    bad_j = bytearray(jpg)
    for i in range(sos + 30, len(jpg) - 2, 7):
        bad_j[i] = 0xff if i % 2 else bad_j[i] ^ 0x3c
    ck.fails("JPEG corrupt entropy data", bytes(bad_j), E_FORMAT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    tool = os.path.join(args.build, "tests", "image_run")
    if not os.path.exists(tool):
        tool = os.path.join(args.build, "image_run")
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        ck = Checker(tool, tmp)
        check_png(ck, rng)
        check_jpeg(ck, rng)
        check_webp(ck, rng)
        check_bmp(ck, rng)
        for group, (n, exact, worst) in sorted(ck.stats.items()):
            print(f"  {group}: {exact}/{n} images identical to the reference, max diff {worst}")
        check_hostile(ck, rng, args.quick)
    print(f"decode vs PIL {Image.__version__}: {ck.passed} checks passed, {ck.failed} failed")
    return 1 if ck.failed else 0


if __name__ == "__main__":
    sys.exit(main())
