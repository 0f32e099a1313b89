#!/usr/bin/env python3
"""Every layer's value (infer_layer) and the input gradient (input_gradient)
against PyTorch on the same random weights.

    layers_conformance.py --cnnc build/cnnc model.cnn [--batch 1 3] [--train] [--tol 1e-5] [--grad-tol 1e-4]

The library must list the layers `cnnc --summary` shows, in its order (aux
heads aside), with their shapes; each layer's value must equal the twin's
(tests/torch/ir_reference.py, inference mode) within tol x its largest
magnitude; the input pixels its middle position depends on (where
torch.autograd.grad is nonzero) must lie inside its receptive field
(layer_field). With --train, the library is compiled with --train and the
gradient of each sample's logit of a random class with respect to the input
must equal torch.autograd.grad's within grad-tol x the largest gradient.
Exit 0: match; 1: mismatch or failure; 77: PyTorch is not installed.
"""

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIP: PyTorch/numpy not available ({e}); install python3-torch")
    sys.exit(77)

import ir_reference
import safetensors_io
from conformance import load_model, random_weights


def summary_names(cnnc, model):
    """The first column of `cnnc --summary`'s layer table, in node order."""
    text = subprocess.run([cnnc, model, "--summary"], check=True, capture_output=True, text=True).stdout
    rows = text.split("-" * 92 + "\n")[1]
    return [line.split()[0] for line in rows.splitlines() if line.strip()]


def bind(so, name):
    _, f = load_model(so, name)
    f("layer_name").restype = ctypes.c_char_p
    f("layer_dims").argtypes = [ctypes.c_int, ctypes.c_void_p]
    f("layer_field").argtypes = [ctypes.c_int, ctypes.c_void_p]
    f("infer_layer").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
    f("input_gradient").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    return f


def relative_error(out, ref):
    scale = max(float(np.abs(ref).max()), 1e-30)
    return float(np.abs(out - ref).max()) / scale, scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--train", action="store_true", help="compile with --train and check input_gradient")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--grad-tol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    ir = subprocess.run([args.cnnc, args.model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
    graph = ir_reference.Graph(ir)
    weights = random_weights(graph.parameter_shapes(), gen)
    names = summary_names(args.cnnc, args.model)
    aux_only = set(range(len(names))) - _main_path(graph)
    expected = [(nid, names[nid]) for nid in range(len(names)) if nid not in aux_only]

    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, graph.name + ".so")
        subprocess.run([args.cnnc, args.model, "-o", so, "-q"] + (["--train"] if args.train else []), check=True)
        st = os.path.join(tmp, "weights.safetensors")
        safetensors_io.save({k: v.numpy() for k, v in weights.items()}, st)
        f = bind(so, graph.name)
        model = f("create")()
        if not model or f("load_weights")(model, st.encode()) != 0:
            print("create/load_weights failed:", f("last_error")().decode())
            return 1
        listed = [f("layer_name")(i).decode() for i in range(f("layer_count")())]
        if listed != [n for _, n in expected]:
            print(f"layers {listed}\n  differ from --summary's {[n for _, n in expected]}")
            return 1
        if f("layer_name")(len(listed)) is not None or f("layer_name")(-1) is not None:
            print("layer_name out of range is not NULL")
            return 1
        failed = not receptive_fields_hold(f, graph, weights, expected, gen)
        for batch in args.batch:
            x = torch.randn([batch] + graph.input_shape, generator=gen)
            xin = np.ascontiguousarray(x.numpy(), np.float32)
            with torch.no_grad():
                values = graph._evaluate(x, weights, training=False)
            worst, worst_name = 0.0, ""
            for i, (nid, name) in enumerate(expected):
                ref = values[nid].numpy()
                dims = (ctypes.c_int * 3)()
                if f("layer_dims")(i, dims) != 0:
                    print(f"layer_dims({i}) failed:", f("last_error")().decode())
                    return 1
                shape = list(ref.shape[1:]) + [1] * (4 - ref.ndim)
                if list(dims) != shape:
                    print(f"{name}: layer_dims {list(dims)}, PyTorch's shape {shape}")
                    failed = True
                    continue
                out = np.full(ref.size, np.nan, np.float32)
                if f("infer_layer")(model, xin.ctypes.data, batch, name.encode(), out.ctypes.data) != 0:
                    print(f"infer_layer({name}) failed:", f("last_error")().decode())
                    return 1
                err, _ = relative_error(out, ref.reshape(-1))
                if err > args.tol:
                    print(f"{graph.name} batch {batch} layer {name}: max |cnnc - torch| / max |torch| = {err:.3e}")
                    failed = True
                if err >= worst:
                    worst, worst_name = err, name
            print(f"{graph.name} batch {batch}: {len(expected)} layers, worst max |cnnc - torch| / max |torch| "
                  f"= {worst:.3e} ({worst_name}; tol {args.tol:g})")
            if args.train:
                xg = x.clone().requires_grad_(True)
                scores = graph.run(xg, weights, logits=True)
                classes = torch.randint(0, scores.shape[1], (batch,), generator=gen)
                (ref,) = torch.autograd.grad(scores[torch.arange(batch), classes].sum(), xg)
                cls = np.ascontiguousarray(classes.numpy(), np.int32)
                grad = np.full(xin.shape, np.nan, np.float32)
                if f("input_gradient")(model, xin.ctypes.data, batch, cls.ctypes.data, grad.ctypes.data) != 0:
                    print("input_gradient failed:", f("last_error")().decode())
                    return 1
                err, scale = relative_error(grad, ref.numpy())
                print(f"{graph.name} batch {batch} input gradient: max |cnnc - torch| / max |torch| = {err:.3e} "
                      f"(tol {args.grad_tol:g}; max |torch| = {scale:.3g})")
                failed = failed or not err <= args.grad_tol
        f("destroy")(model)
    return 1 if failed else 0


def receptive_fields_hold(f, graph, weights, expected, gen):
    """Each spatial layer's middle position depends on input pixels inside its field only."""
    ok, checked = True, 0
    x = torch.randn([1] + graph.input_shape, generator=gen, requires_grad=True)
    values = graph._evaluate(x, weights, training=False)
    height, width = graph.input_shape[1:]
    for i, (nid, name) in enumerate(expected):
        field = (ctypes.c_int * 6)()
        if f("layer_field")(i, field) != 0:
            print(f"layer_field({i}) failed:", f("last_error")().decode())
            return False
        size_h, size_w, jump_h, jump_w, start_h, start_w = field
        v = values[nid]
        if v.dim() != 4 or nid == 0:
            continue
        if jump_h == 0 or jump_w == 0:  # the whole input
            if (size_h, size_w, start_h, start_w) != (height, width, 0, 0):
                print(f"{name}: a whole-input field must be the input's size, got {list(field)}")
                ok = False
            continue
        y, xx = v.shape[2] // 2, v.shape[3] // 2
        (g,) = torch.autograd.grad(v[0, 0, y, xx], x, retain_graph=True, allow_unused=True)
        if g is None:
            continue
        support = (g[0].abs().sum(0) != 0).nonzero()
        top, left = start_h + y * jump_h, start_w + xx * jump_w
        inside = ((support[:, 0] >= top) & (support[:, 0] < top + size_h) &
                  (support[:, 1] >= left) & (support[:, 1] < left + size_w))
        if not bool(inside.all()):
            print(f"{name}: position ({y}, {xx}) depends on pixels outside its field {list(field)}")
            ok = False
        checked += 1
    print(f"{graph.name}: the receptive fields of {checked} spatial layers hold")
    return ok


def _main_path(graph):
    """Node ids the result depends on (the library drops aux-only nodes)."""
    operands = {nid: ops for nid, _, ops, _, _ in graph.nodes}
    live, stack = set(), [graph.result]
    while stack:
        nid = stack.pop()
        if nid not in live:
            live.add(nid)
            stack.extend(operands.get(nid, []))
    return live


if __name__ == "__main__":
    sys.exit(main())
