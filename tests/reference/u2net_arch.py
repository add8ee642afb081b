"""Independent PyTorch definition of U²-Net, U²-NetP and ISNet (DIS), the
reference that cutout's forward pass is checked against.

Written from the U²-Net paper (Qin et al., 2020) and the DIS paper (Qin et
al., 2022), with the details that decide numerics cross-checked against the
authors' model files (U-2-Net model/u2net.py, DIS IS-Net/models/isnet.py):

- BatchNorm is folded away, as in every rembg ONNX file: a "REBNCONV" is a
  3×3 conv with bias and dilation d (padding d) followed by ReLU.
- Down-sampling: MaxPool 2×2, stride 2, ceil_mode=True (odd sizes round up).
- Up-sampling: bilinear to the exact size of the skip tensor it is
  concatenated with, align_corners=False (ONNX pytorch_half_pixel).
- Concatenation order is (decoder/deeper tensor, skip tensor).
- ISNet: conv_in is a plain stride-2 conv (no BN, no ReLU); pool_in exists in
  the authors' module but is commented out of forward, so stage 1 runs at
  half resolution. ISNet has no fused output conv; its output 0 is d1.

Module call order in forward() is the order the authors' code runs them,
which is the order of the Conv nodes in an ONNX export (load_onnx_weights.py
relies on this).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def upsample_to(x, ref):
    """Bilinear resize of x to ref's spatial size (PyTorch half-pixel)."""
    return F.interpolate(x, size=ref.shape[2:], mode="bilinear", align_corners=False)


def pool2(x):
    return F.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)


class REBNCONV(nn.Module):
    """3×3 conv (+ folded BN) + ReLU."""

    def __init__(self, cin, cout, dilation=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)

    def forward(self, x):
        return F.relu(self.conv(x))


class RSU(nn.Module):
    """Residual U-block of height L (RSU-L, L = 4..7).

    Encoder: conv_in (cin -> cout), then L-1 convs at mid width with a 2×2
    pool between consecutive ones, then a dilation-2 conv at the bottom.
    Decoder: L-1 convs on concat(upsampled deeper, skip), the last back to
    cout. Output = decoder result + conv_in result.
    """

    def __init__(self, height, cin, mid, cout):
        super().__init__()
        self.height = height
        self.conv_in = REBNCONV(cin, cout)
        enc = [REBNCONV(cout, mid)] + [REBNCONV(mid, mid) for _ in range(height - 2)]
        self.enc = nn.ModuleList(enc)
        self.bottom = REBNCONV(mid, mid, dilation=2)
        dec = [REBNCONV(2 * mid, mid) for _ in range(height - 2)] + [REBNCONV(2 * mid, cout)]
        self.dec = nn.ModuleList(dec)

    def forward(self, x):
        xin = self.conv_in(x)
        skips = []
        h = xin
        for i, conv in enumerate(self.enc):
            if i > 0:
                h = pool2(h)
            h = conv(h)
            skips.append(h)
        d = self.bottom(h)
        for i, conv in enumerate(self.dec):
            skip = skips[-1 - i]
            if i > 0:
                d = upsample_to(d, skip)
            d = conv(torch.cat((d, skip), 1))
        return d + xin


class RSU7(RSU):
    def __init__(self, cin, mid, cout):
        super().__init__(7, cin, mid, cout)


class RSU6(RSU):
    def __init__(self, cin, mid, cout):
        super().__init__(6, cin, mid, cout)


class RSU5(RSU):
    def __init__(self, cin, mid, cout):
        super().__init__(5, cin, mid, cout)


class RSU4(RSU):
    def __init__(self, cin, mid, cout):
        super().__init__(4, cin, mid, cout)


class RSU4F(nn.Module):
    """RSU-4 without pooling: dilations 1, 2, 4, 8 down and 4, 2, 1 up."""

    def __init__(self, cin, mid, cout):
        super().__init__()
        self.conv_in = REBNCONV(cin, cout)
        self.enc = nn.ModuleList([REBNCONV(cout, mid, 1), REBNCONV(mid, mid, 2),
                                  REBNCONV(mid, mid, 4)])
        self.bottom = REBNCONV(mid, mid, dilation=8)
        self.dec = nn.ModuleList([REBNCONV(2 * mid, mid, 4), REBNCONV(2 * mid, mid, 2),
                                  REBNCONV(2 * mid, cout, 1)])

    def forward(self, x):
        xin = self.conv_in(x)
        skips = []
        h = xin
        for conv in self.enc:
            h = conv(h)
            skips.append(h)
        d = self.bottom(h)
        for i, conv in enumerate(self.dec):
            d = conv(torch.cat((d, skips[-1 - i]), 1))
        return d + xin


# (block class, cin, mid, cout) per stage.
_U2NET_ENC = [(RSU7, 3, 32, 64), (RSU6, 64, 32, 128), (RSU5, 128, 64, 256),
              (RSU4, 256, 128, 512), (RSU4F, 512, 256, 512), (RSU4F, 512, 256, 512)]
_U2NET_DEC = [(RSU4F, 1024, 256, 512), (RSU4, 1024, 128, 256), (RSU5, 512, 64, 128),
              (RSU6, 256, 32, 64), (RSU7, 128, 16, 64)]
_U2NETP_ENC = [(RSU7, 3, 16, 64), (RSU6, 64, 16, 64), (RSU5, 64, 16, 64),
               (RSU4, 64, 16, 64), (RSU4F, 64, 16, 64), (RSU4F, 64, 16, 64)]
_U2NETP_DEC = [(RSU4F, 128, 16, 64), (RSU4, 128, 16, 64), (RSU5, 128, 16, 64),
               (RSU6, 128, 16, 64), (RSU7, 128, 16, 64)]
# ISNet's stage 1 takes conv_in's 64 channels instead of the image.
_ISNET_ENC = [(RSU7, 64, 32, 64)] + _U2NET_ENC[1:]


class _UNetOfRSU(nn.Module):
    """Six encoder stages, five decoder stages and six 3×3 side convs.

    side_logits returns the side-output logits d1..d6, in side order, each
    resized to size_ref's size; d1 is left as is when resize_d1 is False
    (U²-Net, where d1 is already at the input size)."""

    def __init__(self, enc, dec, out_ch=1):
        super().__init__()
        self.enc = nn.ModuleList([cls(i, m, o) for cls, i, m, o in enc])
        self.dec = nn.ModuleList([cls(i, m, o) for cls, i, m, o in dec])
        # Side i reads decoder stage i (stage 6 for side 6: the bottom).
        side_in = [dec[4][3], dec[3][3], dec[2][3], dec[1][3], dec[0][3], enc[5][3]]
        self.side = nn.ModuleList([nn.Conv2d(c, out_ch, 3, padding=1) for c in side_in])

    def side_logits(self, h, size_ref, resize_d1):
        feats = []
        for i, stage in enumerate(self.enc):
            if i > 0:
                h = pool2(h)
            h = stage(h)
            feats.append(h)
        # Decoder: from the bottom (stage 6) up to stage 1d.
        d = feats[5]
        dec_out = [d]  # hx6, hx5d, hx4d, hx3d, hx2d, hx1d
        for i, stage in enumerate(self.dec):
            skip = feats[4 - i]
            d = stage(torch.cat((upsample_to(d, skip), skip), 1))
            dec_out.append(d)
        dec_out.reverse()  # hx1d .. hx5d, hx6
        logits = []
        for i, conv in enumerate(self.side):
            s = conv(dec_out[i])
            if i > 0 or resize_d1:
                s = upsample_to(s, size_ref)
            logits.append(s)
        return logits


class U2NET(_UNetOfRSU):
    """Full U²-Net (44 M params). Outputs [d0, d1..d6] after sigmoid."""

    def __init__(self, in_ch=3, out_ch=1, enc=_U2NET_ENC, dec=_U2NET_DEC):
        assert in_ch == 3
        super().__init__(enc, dec, out_ch)
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)

    def forward(self, x, logits=False):
        ds = self.side_logits(x, x, resize_d1=False)
        d0 = self.outconv(torch.cat(ds, 1))
        outs = [d0] + ds
        return outs if logits else [torch.sigmoid(t) for t in outs]


class U2NETP(U2NET):
    """U²-NetP (1.13 M params): every RSU middle width 16, outer width 64."""

    def __init__(self, in_ch=3, out_ch=1):
        super().__init__(in_ch, out_ch, _U2NETP_ENC, _U2NETP_DEC)


class ISNetDIS(_UNetOfRSU):
    """ISNet (DIS). Outputs [d1..d6] after sigmoid, each at the input size."""

    def __init__(self, in_ch=3, out_ch=1):
        super().__init__(_ISNET_ENC, _U2NET_DEC, out_ch)
        self.conv_in = nn.Conv2d(in_ch, 64, 3, stride=2, padding=1)  # no BN, no ReLU

    def forward(self, x, logits=False):
        ds = self.side_logits(self.conv_in(x), x, resize_d1=True)
        return ds if logits else [torch.sigmoid(t) for t in ds]


# u2netp_cloth: U²-NetP widths with u2net_cloth_seg's head (4 output channels:
# background, upper, lower, full); rembg's file has the full U²-Net widths at
# 768×768, which cost a CPU minute per pass here without testing anything more.
ARCHS = {"u2net": U2NET, "u2netp": U2NETP, "isnet": ISNetDIS,
         "u2netp_cloth": lambda: U2NETP(out_ch=4)}
OUT_CH = {"u2netp_cloth": 4}
# Size the rembg files were exported at (and the export size used here).
EXPORT_SIZE = {"u2net": 320, "u2netp": 320, "isnet": 1024, "u2netp_cloth": 320}


def build(arch):
    return ARCHS[arch]()


def output_names(arch):
    return ["d%d" % i for i in range(1, 7)] if arch == "isnet" else ["d%d" % i for i in range(7)]


def conv_modules_in_forward_order(model, h=64, w=64):
    """Every nn.Conv2d in the order forward() calls it (one small forward pass
    with hooks), so it lines up with the Conv nodes of an ONNX export."""
    order = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: order.append(mod))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros(1, 3, h, w, dtype=p.dtype))
    finally:
        for hk in hooks:
            hk.remove()
    n_modules = sum(1 for m in model.modules() if isinstance(m, nn.Conv2d))
    assert len(order) == n_modules == len(set(map(id, order))), "a conv ran twice or never"
    return order
