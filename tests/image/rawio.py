"""The raw image files exchanged with tests/tools (see tests/tools/raw_image.h)."""

import numpy as np


def write(path, a):
    a = np.ascontiguousarray(a, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    with open(path, "wb") as f:
        f.write(b"%d %d %d\n" % (w, h, c))
        f.write(a.tobytes())


def read(path):
    with open(path, "rb") as f:
        w, h, c = (int(v) for v in f.readline().split())
        a = np.frombuffer(f.read(), np.uint8)
    assert a.size == w * h * c, path
    return a.reshape(h, w, c)
