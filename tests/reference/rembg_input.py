"""Network inputs for the reference tests.

photo_tensor follows rembg's preprocessing (README.md "rembg-compatible processing" steps 2-3, rembg
session_base.normalize): PIL LANCZOS resize to the model size, divide by the
image's own maximum, ImageNet mean/std, computed in float64 then cast to
float32. The synthetic inputs are seeded, so every run feeds the same bytes.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def photo_tensor(rgb, size, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """rgb: H×W×3 uint8 array -> 3×size×size float32 array."""
    im = Image.fromarray(rgb).convert("RGB").resize((size, size), Image.LANCZOS)
    a = np.array(im)
    a = a / np.max(a)
    out = np.zeros(a.shape)
    for c in range(3):
        out[:, :, c] = (a[:, :, c] - mean[c]) / std[c]
    return out.transpose((2, 0, 1)).astype(np.float32)


def skimage_photo(name):
    import skimage.data
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return img[:, :, :3]


def synthetic_batch(n, h, w, seed, first_kind=0):
    """n×3×h×w float32. Images alternate between two kinds so both ranges
    are covered: kind 0, N(0,1) noise; kind 1, a "normalised photo": smooth
    random colour fields plus a hard edge and fine noise in [0,1],
    ImageNet-normalised (range about -2.1..2.6, neighbours correlated like
    in real images). Image i has kind (first_kind + i) % 2."""
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n, 3, h, w, dtype=torch.float32)
    for i in range(n):
        if (first_kind + i) % 2 == 0:
            out[i] = torch.randn(3, h, w, generator=g)
        else:
            coarse = torch.rand(1, 3, max(2, h // 16), max(2, w // 16), generator=g)
            img = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]
            # a hard-edged rectangle, like an object boundary
            y0, x0 = h // 4, w // 3
            img[:, y0:h - y0, x0:w - x0] = torch.rand(3, 1, 1, generator=g)
            img = (img + 0.05 * torch.randn(3, h, w, generator=g)).clamp(0, 1)
            mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
            std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
            out[i] = (img - mean) / std
    return out.numpy()
