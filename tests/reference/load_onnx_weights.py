"""Load the Conv weights of a rembg ONNX file into the PyTorch reference.

The ONNX Conv nodes, in graph order, are matched one to one with the
reference's conv modules in the order forward() calls them. Every weight and
bias shape, stride, dilation and padding must agree, so a file whose topology
differs from the reference is refused rather than silently mis-mapped.

usage (self-check): load_onnx_weights.py MODEL.onnx ARCH [OUT.pt]
"""

import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

import u2net_arch


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            v = onnx.helper.get_attribute_value(a)
            return list(v) if isinstance(v, (list, tuple)) else v
    return default


def _constant_values(graph):
    vals = {t.name: t for t in graph.initializer}
    for n in graph.node:  # some exporters keep weights in Constant nodes
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    vals[n.output[0]] = a.t
    return vals


def onnx_convs(path):
    """[(weight, bias, stride, dilation, pads)] of every Conv, in graph order,
    weights as float32 numpy arrays (fp16 files are widened)."""
    model = onnx.load(path)
    vals = _constant_values(model.graph)
    convs = []
    for n in model.graph.node:
        if n.op_type != "Conv":
            continue
        if len(n.input) < 3 or n.input[1] not in vals or n.input[2] not in vals:
            raise ValueError("Conv %s has no constant weight and bias" % n.name)
        w = numpy_helper.to_array(vals[n.input[1]]).astype(np.float32)
        b = numpy_helper.to_array(vals[n.input[2]]).astype(np.float32)
        if _attr(n, "group", 1) != 1:
            raise ValueError("Conv %s is grouped" % n.name)
        k = w.shape[2:]
        convs.append((w, b, _attr(n, "strides", [1, 1]), _attr(n, "dilations", [1, 1]),
                      _attr(n, "pads", [0] * 2 * len(k))))
    return convs


def load_into(model, path):
    """Copy the file's Conv weights into model; raises on any mismatch."""
    mods = u2net_arch.conv_modules_in_forward_order(model)
    convs = onnx_convs(path)
    if len(convs) != len(mods):
        raise ValueError("%s has %d Conv nodes, the reference has %d convs"
                         % (path, len(convs), len(mods)))
    for i, (m, (w, b, stride, dil, pads)) in enumerate(zip(mods, convs)):
        want = (tuple(m.weight.shape), tuple(m.bias.shape), list(m.stride), list(m.dilation),
                [m.padding[0], m.padding[1], m.padding[0], m.padding[1]])
        got = (w.shape, b.shape, stride, dil, pads)
        if want != got:
            raise ValueError("conv %d: reference (weight, bias, stride, dilation, pads) %s, "
                             "file %s" % (i, want, got))
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(w))
            m.bias.copy_(torch.from_numpy(b))
    return len(mods)


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    torch.set_num_threads(2)
    model = u2net_arch.build(argv[2]).eval()
    n = load_into(model, argv[1])
    print("loaded %d convs, %d parameters" % (n, sum(p.numel() for p in model.parameters())))
    if len(argv) == 4:
        torch.save(model.state_dict(), argv[3])


if __name__ == "__main__":
    main(sys.argv)
