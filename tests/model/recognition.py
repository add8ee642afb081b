"""Architecture recognition and fp16 loading, on variants of the real u2netp.

usage: recognition.py BUILD_DIR

Each case writes an ONNX file made with the onnx library (independent of
cutout's reader) and loads it with BUILD/tests/onnx_check; the case states the
outcome it needs (loaded as an architecture, or rejected with a message that
contains given words). Then the fp16 path: u2netp with every weight stored as
FLOAT16 must give exactly the output of u2netp with the same fp16-rounded
weights stored as FLOAT (conversion at load is exact), via net_run.
Prints one line per case and "N passed, N failed".
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "models", "u2netp.onnx")


def load():
    return onnx.load(MODEL)


def convs(m):
    return [n for n in m.graph.node if n.op_type == "Conv"]


def init(m, name):
    return next(t for t in m.graph.initializer if t.name == name)


def replace_init(m, name, array):
    t = init(m, name)
    t.CopyFrom(numpy_helper.from_array(array, name))


def set_attr(node, name, value):
    for a in node.attribute:
        if a.name == name:
            node.attribute.remove(a)
            break
    node.attribute.append(helper.make_attribute(name, value))


def variant_weight_shape(m):
    c = convs(m)[20]  # a stage-2 conv: 16 -> 16
    w = numpy_helper.to_array(init(m, c.input[1]))
    replace_init(m, c.input[1], np.zeros((w.shape[0], w.shape[1] + 1, 3, 3), np.float32))


def variant_dilation(m):
    c = convs(m)[7]  # stage-1's dilation-2 conv
    set_attr(c, "dilations", [1, 1])
    set_attr(c, "pads", [1, 1, 1, 1])


def variant_drop_conv(m):
    """Bypass the last conv (outconv): its input feeds its consumers."""
    c = convs(m)[-1]
    src, dst = c.input[0], c.output[0]
    m.graph.node.remove(c)
    for n in m.graph.node:
        for i, x in enumerate(n.input):
            if x == dst:
                n.input[i] = src


def variant_leaky(m):
    r = next(n for n in m.graph.node if n.op_type == "Relu")
    r.op_type = "LeakyRelu"


def variant_group(m):
    set_attr(convs(m)[3], "group", 2)


def _widen_head(m, side_out, fuse_out):
    """Side convs (the 6 before outconv) with side_out outputs; outconv
    6*side_out -> fuse_out: u2net_cloth_seg's head when both are 4."""
    c = convs(m)
    rng = np.random.default_rng(1)
    for conv in c[-7:-1]:
        w = numpy_helper.to_array(init(m, conv.input[1]))
        replace_init(m, conv.input[1],
                     rng.standard_normal((side_out,) + w.shape[1:]).astype(np.float32))
        replace_init(m, conv.input[2], np.zeros(side_out, np.float32))
    out = c[-1]
    replace_init(m, out.input[1], rng.standard_normal((fuse_out, 6 * side_out, 1, 1)).astype(np.float32))
    replace_init(m, out.input[2], np.zeros(fuse_out, np.float32))


def variant_cloth_head(m):
    _widen_head(m, 4, 4)


def variant_cloth_bad_fusion(m):
    _widen_head(m, 4, 1)


def variant_transformer_op(m):
    """A MatMul in the graph, as BiRefNet's Swin encoder has (and SAM, BEN)."""
    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "attn_w")
    m.graph.initializer.append(w)
    m.graph.node.append(helper.make_node("MatMul", ["attn_w", "attn_w"], ["attn_out"]))


def other_architecture(_):
    """A small 3-conv CNN: a model of another architecture."""
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i, (ci, co) in enumerate([(3, 8), (8, 8), (8, 1)]):
        w = numpy_helper.from_array(rng.standard_normal((co, ci, 3, 3)).astype(np.float32), "w%d" % i)
        b = numpy_helper.from_array(np.zeros(co, np.float32), "b%d" % i)
        inits += [w, b]
        nodes.append(helper.make_node("Conv", [prev, "w%d" % i, "b%d" % i], ["c%d" % i], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", ["c%d" % i], ["r%d" % i]))
        prev = "r%d" % i
    g = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", 1, [1, 3, 64, 64])],
                          [helper.make_tensor_value_info(prev, 1, [1, 1, 64, 64])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])


# name, how to make it (mutates u2netp, or returns a model), expected outcome
CASES = [
    ("u2netp as shipped", None, ("loaded", "u2netp, 1 output channel")),
    ("4-channel head (u2net_cloth_seg)", variant_cloth_head, ("loaded", "u2netp, 4 output channel")),
    ("4-channel sides, 1-channel fusion", variant_cloth_bad_fusion, ("rejected", "outconv")),
    ("transformer operator", variant_transformer_op,
     ("rejected", "a transformer network (it uses the MatMul operator")),
    ("weight shape changed", variant_weight_shape, ("rejected", "conv #20")),
    ("dilation changed", variant_dilation, ("rejected", "dilation 1")),
    ("a conv removed", variant_drop_conv, ("rejected", "found 118")),
    ("unknown operator", variant_leaky, ("rejected", "LeakyRelu")),
    ("grouped conv", variant_group, ("rejected", "group")),
    ("another architecture", other_architecture, ("rejected", "expected 119 convolutions")),
]


# rembg models cutout does not run, refused by registry name (cutout -m NAME).
NAME_CASES = [
    ("birefnet-general", "birefnet-general is a BiRefNet model (not a U²-Net-family network); "
     "cutout runs: u2netp, u2net, u2net_human_seg, silueta, isnet-general-use, u2net_cloth_seg, "
     "isnet-anime"),
    ("bria-rmbg", "bria-rmbg is a BRIA RMBG-2.0 (BiRefNet) model"),
    ("sam", "sam is a Segment Anything (SAM) model"),
    ("ben_custom", "ben_custom is a BEN (Background Erase Network) model"),
    ("u2net_custom", "give cutout the file's path"),
]


def name_case(build, name, words):
    p = subprocess.run([os.path.join(build, "cutout"), "-m", name, "in.png", "-o", "out.png"],
                       capture_output=True, text=True, timeout=60)
    ok = p.returncode == 1 and words in p.stderr
    return ok, "refuses the name %s: %s" % (name, p.stderr.strip())


def run_check(build, path):
    p = subprocess.run([os.path.join(build, "tests", "onnx_check"), path],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.strip() + p.stderr.strip()


def to_fp16(m, store_as_half):
    for t in m.graph.initializer:
        if t.data_type != onnx.TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t).astype(np.float16)
        t.CopyFrom(numpy_helper.from_array(a if store_as_half else a.astype(np.float32), t.name))


def fp16_case(build, tmp):
    paths = {}
    for half in (True, False):
        m = load()
        to_fp16(m, half)
        paths[half] = os.path.join(tmp, "u2netp_fp16_%s.onnx" % ("half" if half else "rounded"))
        onnx.save(m, paths[half])
    x = np.random.default_rng(5).uniform(-2, 2, (1, 3, 64, 48)).astype(np.float32)
    xin = os.path.join(tmp, "x.f32")
    x.tofile(xin)
    outs = []
    for half in (True, False):
        out = os.path.join(tmp, "y_%d.f32" % half)
        subprocess.run([os.path.join(build, "tests", "net_run"), paths[half], xin, "1", "64", "48", out,
                        "--threads", "2"], check=True, timeout=120)
        outs.append(np.fromfile(out, np.float32))
    same = outs[0].shape == (64 * 48,) and np.array_equal(outs[0], outs[1])
    return same, "fp16 weights vs the same values as fp32: %s" % ("identical" if same else "DIFFERENT")


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, (want, words) in CASES:
            m = load()
            if make is not None:
                r = make(m)
                if r is not None:
                    m = r
            path = os.path.join(tmp, "case.onnx")
            onnx.save(m, path)
            rc, out = run_check(build, path)
            ok = rc == 0 and out.startswith(want) and words in out
            passed += ok
            failed += not ok
            print("%s %s: %s" % ("ok" if ok else "FAIL", name, out))
        for name, words in NAME_CASES:
            ok, msg = name_case(build, name, words)
            passed += ok
            failed += not ok
            print("%s %s" % ("ok" if ok else "FAIL", msg))
        ok, msg = fp16_case(build, tmp)
        passed += ok
        failed += not ok
        print("%s %s" % ("ok" if ok else "FAIL", msg))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
