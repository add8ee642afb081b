"""A minimal PNG writer, independent of PIL and libpng, for decoder tests.

It writes every colour type and bit depth the PNG spec allows, palettes,
tRNS, eXIf and Adam7 interlacing (which PIL cannot write). Samples are given
as a numpy array of shape (h, w, channels) holding values < 2**bitdepth.
"""

import struct
import zlib

import numpy as np

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel

# Adam7 passes: (x start, y start, x step, y step)
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xffffffff)


def pack_rows(samples, bitdepth):
    """(h, w, c) samples -> list of packed scanlines (no filter byte)."""
    h, w, c = samples.shape
    rows = []
    for y in range(h):
        flat = samples[y].reshape(-1).astype(np.uint32)
        if bitdepth == 16:
            rows.append(flat.astype(">u2").tobytes())
        elif bitdepth == 8:
            rows.append(flat.astype(np.uint8).tobytes())
        else:
            per = 8 // bitdepth
            n = (len(flat) + per - 1) // per
            padded = np.zeros(n * per, np.uint32)
            padded[:len(flat)] = flat
            padded = padded.reshape(n, per)
            byte = np.zeros(n, np.uint32)
            for i in range(per):
                byte |= padded[:, i] << (8 - bitdepth * (i + 1))
            rows.append(byte.astype(np.uint8).tobytes())
    return rows


def filtered(rows, bpp, filt):
    """Applies one PNG filter type to every row (0 none, 1 sub, 2 up, 4 paeth-free avg=3)."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for r in rows:
        cur = np.frombuffer(r, np.uint8).astype(np.int32)
        p = np.frombuffer(prev, np.uint8).astype(np.int32)
        if filt == 0:
            f = cur
        elif filt == 1:
            left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]]) if len(cur) > bpp else np.zeros_like(cur)
            f = cur - left
        elif filt == 2:
            f = cur - p
        else:  # average
            left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]]) if len(cur) > bpp else np.zeros_like(cur)
            f = cur - (left + p) // 2
        out.append(filt)
        out += (f & 0xff).astype(np.uint8).tobytes()
        prev = r
    return bytes(out)


def encode(samples, bitdepth, colortype, palette=None, trns=None, interlace=False,
           exif=None, filt=1, idat_split=0):
    """Returns PNG bytes. palette: list of (r,g,b); trns: raw tRNS payload bytes."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    h, w, c = samples.shape
    assert c == CHANNELS[colortype]
    bpp = max(1, c * bitdepth // 8)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += filtered(pack_rows(sub, bitdepth), bpp, filt)
    else:
        raw = filtered(pack_rows(samples, bitdepth), bpp, filt)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 1 if interlace else 0))
    if exif is not None:
        out += chunk(b"eXIf", exif)
    if palette is not None:
        out += chunk(b"PLTE", b"".join(bytes(p) for p in palette))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    z = zlib.compress(raw, 6)
    if idat_split:
        for i in range(0, len(z), idat_split):
            out += chunk(b"IDAT", z[i:i + idat_split])
    else:
        out += chunk(b"IDAT", z)
    out += chunk(b"IEND", b"")
    return out
