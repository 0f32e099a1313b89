#!/usr/bin/env python3
"""Malformed and unsupported ONNX models: cnnc prints one exact diagnostic,
exits 1 and writes no output file. Also: external data beside the model
gives the same weights as the model with its data inline.

    malformed.py --cnnc build/cnnc

Exit 0: all as expected; 1: a difference; 77: numpy/onnx missing.
"""

import argparse
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"SKIP: numpy/onnx not available ({e}); install python3-onnx and run with /usr/bin/python3")
    sys.exit(77)


def conv_model(opset=13, conv_inputs=("x", "w"), weight=None, extra_nodes=(), pads=(1, 1, 1, 1), op="Conv"):
    """x [N, 2, 5, 5] -> Conv(3 filters, 3x3) -> Relu -> y."""
    w = weight if weight is not None else numpy_helper.from_array(np.ones((3, 2, 3, 3), np.float32), "w")
    nodes = [helper.make_node(op, list(conv_inputs), ["c"], name="conv", pads=list(pads)),
             helper.make_node("Relu", ["c"], ["y"], name="relu")] + list(extra_nodes)
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 5, 5])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def cycle_model():
    nodes = [helper.make_node("Relu", ["x2"], ["a"], name="first"), helper.make_node("Add", ["a", "x"], ["x2"], name="second"),
             helper.make_node("Relu", ["a"], ["y"], name="out")]
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def lenet_like():
    """Conv -> BatchNorm -> MaxPool -> Gemm with a reshape chain: many fields to mutate."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("c.weight", f32(4, 2, 3, 3)), ("c.bias", f32(4)), ("bn.weight", f32(4)), ("bn.bias", f32(4)),
        ("bn.running_mean", f32(4)), ("bn.running_var", np.ones(4, np.float32)), ("fc.weight", f32(3, 16)),
        ("fc.bias", f32(3)), ("minus_one", np.array([-1], np.int64))]]
    nodes = [helper.make_node("Conv", ["x", "c.weight", "c.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
                              ["b"], name="bn"),
             helper.make_node("MaxPool", ["b"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Shape", ["p"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
             helper.make_node("Constant", [], ["zero"], name="const", value_int=0),
             helper.make_node("Unsqueeze", ["n"], ["n1"], name="unsq", axes=[0]),
             helper.make_node("Concat", ["n1", "minus_one"], ["shape2"], name="cat", axis=0),
             helper.make_node("Reshape", ["p", "shape2"], ["f"], name="reshape"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])


MUTANTS = 200


def short_weight():
    t = numpy_helper.from_array(np.ones((3, 2, 3, 3), np.float32), "w")
    t.raw_data = t.raw_data[:-4]
    return t


def ceil_pool_model():
    """A ceil-mode window starting in the right padding: ONNX keeps it, PyTorch (and cnnc) drop it."""
    n = helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
                         ceil_mode=1)
    graph = helper.make_graph([n], "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def pool_model(op="AveragePool", **attrs):
    """x [N, 1, 5, 5] -> a 2x2 pool -> y."""
    n = helper.make_node(op, ["x"], ["y"], name="pool", kernel_shape=[2, 2], **attrs)
    graph = helper.make_graph([n], "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def pad_model(value, batch="N"):
    """x [batch, 1, 5, 5] -> Pad(constant `value`, one column on the right) -> y."""
    inits = [numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 0, 1], np.int64), "pads"),
             numpy_helper.from_array(np.array(value, np.float32), "value")]
    n = helper.make_node("Pad", ["x", "pads", "value"], ["y"], name="pad", mode="constant")
    graph = helper.make_graph([n], "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


CASES = [
    # (file name, bytes or model, expected message after "cnnc: error: <file>: ")
    ("text.onnx", b"this is not an ONNX model\n", "not an ONNX model (the file is not a valid ModelProto)"),
    ("truncated.onnx", lambda: conv_model().SerializeToString()[:150],
     "not an ONNX model (the file is not a valid ModelProto)"),
    ("undefined.onnx", lambda: conv_model(conv_inputs=("x", "missing")),
     "node 'conv' (Conv, opset 13): input 'missing' is not defined (no node, initializer or graph input has that name)"),
    ("cycle.onnx", cycle_model, "node 'first' (Relu, opset 13): is part of a cycle"),
    ("short_data.onnx", lambda: conv_model(weight=short_weight()),
     "initializer 'w' holds 212 bytes of data; its dims [3, 2, 3, 3] need 216"),
    ("negative_pads.onnx", lambda: conv_model(pads=(0, -1, 1, 1)),
     "node 'conv' (Conv, opset 13): negative padding [0, -1, 1, 1] is not supported"),
    # Padded symmetrically by the pool, the extra windows at the start would
    # have to be a whole number of strides to crop.
    ("asymmetric_avgpool.onnx", lambda: pool_model(pads=[0, 0, 1, 1], strides=[2, 2]),
     "node 'pool' (AveragePool, opset 13): asymmetric pads [0, 0, 1, 1] ([top, left, bottom, right]) with "
     "count_include_pad=0 are not supported for this window and stride"),
    ("pad_inf.onnx", lambda: pad_model(np.inf),
     "node 'pad' (Pad, opset 13): padding with inf is not supported (a finite value or -inf)"),
    ("pad_nan.onnx", lambda: pad_model(np.nan),
     "node 'pad' (Pad, opset 13): padding with nan is not supported (a finite value or -inf)"),
    ("batch_zero.onnx", lambda: pad_model(0.0, batch=0),
     "graph input 'x' has the batch size 0 (1 to 2^31-1, or symbolic)"),
    ("unsupported_op.onnx", lambda: conv_model(op="ConvTranspose"), "node 'conv' (ConvTranspose, opset 13): operator not supported"),
    ("ceil_pool.onnx", ceil_pool_model,
     "node 'pool' (MaxPool, opset 13): ceil_mode gives a last window starting in the padding (output 4x4), "
     "which is not supported"),
    ("opset18.onnx", lambda: conv_model(opset=18), "opset 18 of the default domain is not supported (6 to 17)"),
    ("huge.onnx", "sparse-3GiB",
     "the file is larger than 2 GiB, protobuf's limit (store the weights as external data)"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnnc", required=True)
    args = ap.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, content, message in CASES:
            path = os.path.join(tmp, name)
            if content == "sparse-3GiB":
                with open(path, "wb") as f:
                    f.truncate(3 << 30)
            else:
                content = content() if callable(content) else content
                data = content if isinstance(content, bytes) else content.SerializeToString()
                with open(path, "wb") as f:
                    f.write(data)
            out = os.path.join(tmp, "out.so")
            r = subprocess.run([args.cnnc, path, "-o", out, "-q"], capture_output=True, text=True)
            expected = f"cnnc: error: {path}: {message}\n"
            leftovers = [p for p in (out, os.path.join(tmp, "out.safetensors")) if os.path.exists(p)]
            ok = r.returncode == 1 and r.stderr == expected and not leftovers
            print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": exit {r.returncode}, stderr {r.stderr!r}, "
                                                        f"expected {expected!r}, files left {leftovers}"))
            failed |= not ok
            os.remove(path)

        # Mutated models (bytes flipped, cut or repeated) import or fail with
        # one line, never a crash.
        base = lenet_like().SerializeToString()
        rng = np.random.default_rng(1)
        crashes = 0
        for i in range(MUTANTS):
            data = bytearray(base)
            for _ in range(int(rng.integers(1, 4))):
                kind, at = int(rng.integers(3)), int(rng.integers(len(data)))
                if kind == 0:
                    data[at] = int(rng.integers(256))
                elif kind == 1:
                    del data[at:at + int(rng.integers(1, 16))]
                else:
                    data[at:at] = data[at:at + int(rng.integers(1, 16))]
            path = os.path.join(tmp, f"mutant{i}.onnx")
            with open(path, "wb") as f:
                f.write(bytes(data))
            r = subprocess.run([args.cnnc, path, "--emit=ir"], capture_output=True, text=True, errors="replace")
            one_line = r.stderr.startswith("cnnc: error: ") and r.stderr.count("\n") == 1
            if not (r.returncode == 0 or (r.returncode == 1 and one_line)):
                crashes += 1
                print(f"FAIL mutant {i}: exit {r.returncode}, stderr {r.stderr[-300:]!r}")
            os.remove(path)
        print(f"{'ok  ' if not crashes else 'FAIL'} {MUTANTS} mutated models: no crash")
        failed |= crashes > 0

        # External data: the same weights as inline.
        inline = os.path.join(tmp, "inline.onnx")
        model = conv_model()
        model.graph.initializer[0].CopyFrom(numpy_helper.from_array(
            np.random.default_rng(0).standard_normal((3, 2, 3, 3)).astype(np.float32), "w"))
        onnx.save_model(model, inline)
        external = os.path.join(tmp, "external.onnx")
        onnx.save_model(model, external, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="external.data", size_threshold=0)
        weights = [subprocess.run([args.cnnc, p, "--emit=weights"], capture_output=True, check=True).stdout
                   for p in (inline, external)]
        ok = weights[0] == weights[1] and len(weights[0]) > 216
        print(f"{'ok  ' if ok else 'FAIL'} external data gives the inline model's weights")
        failed |= not ok
        os.remove(os.path.join(tmp, "external.data"))
        r = subprocess.run([args.cnnc, external, "--emit=ir"], capture_output=True, text=True)
        expected = (f"cnnc: error: {external}: initializer 'w' has external data in '{tmp}/external.data', "
                    "which cannot be read\n")
        ok = r.returncode == 1 and r.stderr == expected
        print(f"{'ok  ' if ok else 'FAIL'} missing external data" + ("" if ok else f": {r.stderr!r}"))
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
