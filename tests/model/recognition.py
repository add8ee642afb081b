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
    ("u2netp as shipped", None, ("loaded", "u2netp")),
    ("weight shape changed", variant_weight_shape, ("rejected", "conv #20")),
    ("dilation changed", variant_dilation, ("rejected", "dilation 1")),
    ("a conv removed", variant_drop_conv, ("rejected", "found 118")),
    ("unknown operator", variant_leaky, ("rejected", "LeakyRelu")),
    ("grouped conv", variant_group, ("rejected", "group")),
    ("another architecture", other_architecture, ("rejected", "expected 119 convolutions")),
]


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
        ok, msg = fp16_case(build, tmp)
        passed += ok
        failed += not ok
        print("%s %s" % ("ok" if ok else "FAIL", msg))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
