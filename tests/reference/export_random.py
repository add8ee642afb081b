"""Random-weight U²-Net / U²-NetP / ISNet models, exported to ONNX like rembg's.

usage: export_random.py ARCH OUT.onnx [--seed S] [--pt OUT.pt]
  ARCH: u2net | u2netp | isnet

Weights are random but not arbitrary: a plain Gaussian init lets activation
scale drift by a constant factor per layer (the RSU residual sums double it),
and after ~20 layers every sigmoid output is stuck at 0 or 1, which would make
an output comparison meaningless. So each conv gets a seeded Gaussian weight
(std 1/sqrt(fan_in)) and bias, and is then rescaled once, in forward order,
so that its output has a fixed std on a calibration batch (layer-sequential
unit-variance init, as in LSUV): 1 before each ReLU, 2 for the side and fused
logits. Biases are kept at 0.3 of the weight term's std so a missing or
misplaced bias shows in the outputs. Everything is deterministic in the seed.

The file is exported with torch.onnx.export at opset 11 at the size rembg's
files use (320², ISNet 1024²), input "input", outputs d0..d6 (ISNet d1..d6).
"""

import argparse
import hashlib
import inspect
import os
import sys

import onnx
import torch
import torch.nn as nn

import rembg_input
import u2net_arch

LOGIT_STD = 2.0      # std of side / fused logits: sigmoid outputs well spread
HIDDEN_STD = 1.0     # std of every pre-ReLU conv output
BIAS_FRACTION = 0.3  # bias std relative to the weight term's std
CALIB_SIZE = {"u2net": 160, "u2netp": 160, "isnet": 384, "u2netp_cloth": 160}


def random_model(arch, seed, calib_size=None):
    """A calibrated random-weight model (float32, eval mode). calib_size:
    side of the square calibration batch; activation statistics depend on
    the input size (at 8×8 the deepest stages are 1×1), so a model meant
    for tiny inputs is calibrated at that size."""
    torch.manual_seed(seed)
    model = u2net_arch.build(arch).eval()
    g = torch.Generator().manual_seed(seed)
    convs = u2net_arch.conv_modules_in_forward_order(model)
    logit_convs = set(map(id, model.side))
    if hasattr(model, "outconv"):
        logit_convs.add(id(model.outconv))
    # ISNet's conv_in has no ReLU after it; keep it at unit std too.
    with torch.no_grad():
        for m in convs:
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in ** 0.5)
            m.bias.zero_()

    bias_noise = {id(m): torch.randn(m.bias.shape, generator=g) for m in convs}

    def calibrate(mod, inp, out):
        # out = W x (bias is zero so far). Add the bias, then scale W and b
        # together so the output std hits its target; return the scaled
        # output so every later layer is calibrated on what it will see.
        sigma = out.std().clamp_min(1e-12)
        bias = BIAS_FRACTION * sigma * bias_noise[id(mod)]
        if id(mod) in logit_convs:
            # A single-channel logit map's spatial mean is one random draw
            # that can dwarf its spatial spread: centre it, or every sigmoid
            # output would sit at 0 or 1.
            bias = bias - out.mean(dim=(0, 2, 3))
        mod.bias.copy_(bias)
        out = out + mod.bias.view(1, -1, 1, 1)
        target = LOGIT_STD if id(mod) in logit_convs else HIDDEN_STD
        s = target / out.std().clamp_min(1e-12)
        mod.weight.mul_(s)
        mod.bias.mul_(s)
        return out * s

    hooks = [m.register_forward_hook(calibrate) for m in convs]
    size = calib_size or CALIB_SIZE[arch]
    x = torch.from_numpy(rembg_input.synthetic_batch(2, size, size, seed + 1))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return model


class _TupleOut(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tuple(self.model(x))


def export_onnx(model, arch, path):
    s = u2net_arch.EXPORT_SIZE[arch]
    x = torch.zeros(1, 3, s, s)
    tmp = path + ".tmp"
    # PyTorch 2.9+ defaults to the dynamo exporter (opset 18, other node
    # patterns); rembg's files come from the TorchScript one.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad():
        torch.onnx.export(_TupleOut(model), x, tmp, opset_version=11, input_names=["input"],
                          output_names=u2net_arch.output_names(arch), do_constant_folding=True,
                          **legacy)
    # torch 1.13 writes Resize as "half_pixel"; rembg's files (torch 1.9)
    # say "pytorch_half_pixel". The two differ only for an output of length
    # 1, which an upsampling to a skip's size never produces from a longer
    # input; write what rembg's files say so the file looks like theirs.
    m = onnx.load(tmp)
    for node in m.graph.node:
        if node.op_type == "Resize":
            for a in node.attribute:
                if a.name == "coordinate_transformation_mode":
                    a.s = b"pytorch_half_pixel"
    onnx.save(m, tmp)
    os.replace(tmp, path)


def ensure_exported(arch, seed, outdir, calib_size=None):
    """(onnx_path, pt_path) for this arch, seed and calibration size,
    exported once and cached in outdir."""
    os.makedirs(outdir, exist_ok=True)
    calib_size = calib_size or CALIB_SIZE[arch]
    # The weights depend on the code that makes them: key the cache on it.
    h = hashlib.sha256()
    for f in ("export_random.py", "u2net_arch.py", "rembg_input.py"):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), f), "rb") as fh:
            h.update(fh.read())
    base = os.path.join(outdir, "%s-seed%d-cal%d-%s" % (arch, seed, calib_size, h.hexdigest()[:8]))
    onnx_path, pt_path = base + ".onnx", base + ".pt"
    if not (os.path.exists(onnx_path) and os.path.exists(pt_path)):
        model = random_model(arch, seed, calib_size)
        export_onnx(model, arch, onnx_path)
        torch.save(model.state_dict(), pt_path + ".tmp")
        os.replace(pt_path + ".tmp", pt_path)
    return onnx_path, pt_path


def load_state(arch, pt_path):
    model = u2net_arch.build(arch).eval()
    model.load_state_dict(torch.load(pt_path))
    return model


def logit_report(model, arch, seed, size=None):
    """Per-output logit std and sigmoid spread on a seeded synthetic batch."""
    size = size or CALIB_SIZE[arch]
    x = torch.from_numpy(rembg_input.synthetic_batch(2, size, size, seed + 2))
    with torch.no_grad():
        logits = model(x, logits=True)
    lines = []
    for name, t in zip(u2net_arch.output_names(arch), logits):
        p = torch.sigmoid(t)
        lines.append("%s: logit std %.3f, sigmoid std %.3f, fraction within 1e-3 of 0 or 1 %.4f"
                     % (name, t.std().item(), p.std().item(),
                        ((p < 1e-3) | (p > 1 - 1e-3)).double().mean().item()))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arch", choices=sorted(u2net_arch.ARCHS))
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pt", help="also save the state_dict here")
    ap.add_argument("--calib-size", type=int, help="calibration input side (default %s)"
                    % CALIB_SIZE)
    a = ap.parse_args()
    torch.set_num_threads(2)
    model = random_model(a.arch, a.seed, a.calib_size)
    for line in logit_report(model, a.arch, a.seed, a.calib_size):
        print(line)
    export_onnx(model, a.arch, a.out)
    if a.pt:
        torch.save(model.state_dict(), a.pt)
    print("wrote", a.out)


if __name__ == "__main__":
    sys.exit(main())
