"""Multiply-accumulates of an ONNX graph, counted from the graph alone.

usage: onnx_macs.py MODEL.onnx [SIDE | HxW] [--self-test]

Independent of cutout's own count (cutout_model_gmac, a dry run of its
forward pass): the input is fixed to 1x3xHxW, onnx's shape inference with data
propagation gives every tensor's shape (the Resize targets come from Shape
at run time), and each Conv adds prod(output shape) * Cin/group * kh * kw,
each ConvTranspose prod(input shape) * Cout/group * kh * kw, each Gemm or
MatMul prod(output) * inner dimension. Nothing else is counted (ReLU, Add,
MaxPool, Resize, Sigmoid are a few operations per element, not MACs).

Prints one line: "first=<MACs> all=<MACs> convs_first=<n> convs_all=<n>":
`first` counts the nodes output 0 depends on (what cutout runs by default),
`all` every node of the graph (rembg fetches every output).
Exits 1 when a shape cannot be inferred. --self-test checks the counter on a
one-Conv graph whose count is worked out by hand, then exits.
"""

import sys

import onnx
from onnx import helper, shape_inference, TensorProto


def _dims(shapes, name):
    d = shapes.get(name)
    if d is None or any(not isinstance(x, int) or x <= 0 for x in d):
        raise SystemExit("onnx_macs: no inferred shape for %r" % name)
    return d


def _prod(v):
    p = 1
    for x in v:
        p *= x
    return p


def count(model, h, w):
    g = model.graph
    inits = {t.name for t in g.initializer}
    inp = [i for i in g.input if i.name not in inits][0]  # before weights join the inputs
    dims = inp.type.tensor_type.shape.dim
    declared = [d.dim_value for d in dims]
    for d, v in zip(dims, (1, 3, h, w)):
        d.Clear()
        d.dim_value = v
    for o in g.output:  # declared output shapes would contradict another size
        o.type.tensor_type.ClearField("shape")
    # Shapes recorded at export hold for the export size only: at another
    # size they go. (At its own size they stay: onnx 1.12 crashes, SIGSEGV,
    # inferring the fp16 ISNet without them.)
    if [d.dim_value for d in dims] != declared:
        del g.value_info[:]
    # Large weights become plain graph inputs of their shape: inference needs
    # only their shapes, and fewer bytes go through inference.
    weights = {}
    for t in list(g.initializer):
        if _prod(t.dims) > 256:
            weights[t.name] = list(t.dims)
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
            g.initializer.remove(t)
    # onnx 1.12's data propagation also crashes on Resize's omitted roi and
    # scales (empty names, as the fp16 ISNet has them); an empty tensor means the same.
    g.initializer.append(helper.make_tensor("onnx_macs_empty", TensorProto.FLOAT, [0], []))
    for n in g.node:
        if n.op_type == "Resize":
            for i in (1, 2):
                if len(n.input) > i and n.input[i] == "":
                    n.input[i] = "onnx_macs_empty"
    m = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    shapes = dict(weights)
    for v in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        if v.type.tensor_type.HasField("shape"):
            shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None
                              for d in v.type.tensor_type.shape.dim]
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)

    def node_macs(n):
        if n.op_type in ("Conv", "ConvTranspose"):
            wt = _dims(shapes, n.input[1])  # per group already: no group factor
            if n.op_type == "Conv":  # weight Cout x Cin/group x kh x kw
                return _prod(_dims(shapes, n.output[0])) * _prod(wt[1:])
            # weight Cin x Cout/group x kh x kw: every input element meets Cout/group*kh*kw taps
            return _prod(_dims(shapes, n.input[0])) * _prod(wt[1:])
        if n.op_type in ("Gemm", "MatMul"):
            a = _dims(shapes, n.input[0])
            trans_a = next((x.i for x in n.attribute if x.name == "transA"), 0)
            inner = a[-2] if trans_a else a[-1]
            return _prod(_dims(shapes, n.output[0])) * inner
        return 0

    producer = {o: n for n in m.graph.node for o in n.output}
    needed, stack = set(), [m.graph.output[0].name]
    while stack:  # the nodes output 0 depends on
        n = producer.get(stack.pop())
        if n is None or id(n) in needed:
            continue
        needed.add(id(n))
        stack.extend(n.input)
    first = all_ = nfirst = nall = 0
    for n in m.graph.node:
        c = node_macs(n)
        if n.op_type in ("Conv", "ConvTranspose"):
            nall += 1
            nfirst += id(n) in needed
        all_ += c
        if id(n) in needed:
            first += c
    return first, all_, nfirst, nall


def self_test():
    """A 3->4 channel 3x3 conv, pad 1, stride 2 on 1x3x10x10 (output 5x5),
    then a 1x1 conv 4->2 on that: 5*5*4*3*3*3 + 5*5*2*4 = 2700 + 200."""
    k1 = helper.make_tensor("k1", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 108)
    k2 = helper.make_tensor("k2", TensorProto.FLOAT, [2, 4, 1, 1], [0.0] * 8)
    nodes = [helper.make_node("Conv", ["x", "k1"], ["y"], kernel_shape=[3, 3], pads=[1] * 4,
                              strides=[2, 2]),
             helper.make_node("Conv", ["y", "k2"], ["z"], kernel_shape=[1, 1])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      [1, 3, 10, 10])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
                          [k1, k2])
    got = count(helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)]), 10, 10)
    want = (2900, 2900, 2, 2)
    print("self-test %s: got %s, want %s" % ("ok" if got == want else "FAIL", got, want))
    return got == want


def main():
    args = [a for a in sys.argv[1:] if a != "--self-test"]
    if "--self-test" in sys.argv:
        sys.exit(0 if self_test() else 1)
    if not args:
        sys.exit(__doc__)
    model = onnx.load(args[0])
    size = args[1] if len(args) > 1 else None
    if size is None:
        d = model.graph.input[0].type.tensor_type.shape.dim
        h, w = d[2].dim_value, d[3].dim_value
    elif "x" in size:
        h, w = map(int, size.split("x"))
    else:
        h = w = int(size)
    first, all_, nfirst, nall = count(model, h, w)
    print("first=%d all=%d convs_first=%d convs_all=%d" % (first, all_, nfirst, nall))


if __name__ == "__main__":
    main()
