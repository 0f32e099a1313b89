#!/usr/bin/env python3
"""Compiles a .cnn model with cnnc and compares its output with PyTorch's.

    conformance.py --cnnc build/cnnc model.cnn [--batch 1 3] [--tol 1e-4] [--nan] [-- extra cnnc flags]

Random weights (batchnorm running statistics too) go through a safetensors file,
as a user's would; the reference executes the same network with
torch.nn.functional (tests/torch/ir_reference.py). With --nan, batches whose
first sample holds one NaN pixel, is all NaN or all +inf must give NaN exactly
where PyTorch does, and the other samples their usual outputs. Exit 0: match; 1: mismatch
or failure; 77: PyTorch is not installed (ctest reports a skip).
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
from model_library import load_model  # noqa: F401  (the scripts importing conformance use it)


def random_weights(shapes, gen):
    weights = {}
    for name, shape in shapes.items():
        # Scaled like a trained network's, so activations neither vanish nor
        # saturate the softmax (which would hide errors).
        fan_in = max(1, int(np.prod(shape[1:]))) if len(shape) > 1 else 1
        if name.endswith("running_var"):
            t = torch.rand(shape, generator=gen) + 0.5
        elif len(shape) > 1:
            t = torch.randn(shape, generator=gen) * (2.0 / fan_in) ** 0.5
        else:
            t = torch.randn(shape, generator=gen) * 0.1
        weights[name] = t.float()
    return weights


def randomized(model, seed):
    """`model` with random weights, He-scaled so that activations keep their
    magnitude through deep networks (VGG has no batchnorm) and errors are not
    hidden by vanishing outputs, and random batchnorm statistics; eval mode."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.normal_(0.0, (2.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nan", action="store_true", help="also poison the first sample with NaN and inf")
    argv = sys.argv[1:]
    flags = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.flags = flags

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    ir = subprocess.run([args.cnnc, args.model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
    graph = ir_reference.Graph(ir)
    shapes = graph.parameter_shapes()
    weights = random_weights(shapes, gen)

    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, graph.name + ".so")
        subprocess.run([args.cnnc, args.model, "-o", so, "-q"] + args.flags, check=True)
        st = os.path.join(tmp, "weights.safetensors")
        safetensors_io.save({k: v.numpy() for k, v in weights.items()}, st)
        lib, f = load_model(so, graph.name)
        model = f("create")()
        if not model:
            print("create failed:", f("last_error")().decode())
            return 1
        if f("load_weights")(model, st.encode()) != 0:
            print("load_weights failed:", f("last_error")().decode())
            return 1
        worst, failed = 0.0, False
        for batch in args.batch:
            clean = torch.randn([batch] + graph.input_shape, generator=gen)
            cases = [("", clean)]
            if args.nan:
                for label, poison in (("one NaN pixel", "pixel"), ("all NaN", float("nan")), ("all +inf", float("inf"))):
                    x = clean.clone()
                    if poison == "pixel":
                        x[0].view(-1)[x[0].numel() // 2 + 3] = float("nan")
                    else:
                        x[0] = poison
                    cases.append((f", first sample {label}", x))
            for label, x in cases:
                with torch.no_grad():
                    ref = graph.run(x, weights).reshape(batch, -1).numpy()
                out = np.zeros(ref.shape, np.float32)
                xin = np.ascontiguousarray(x.numpy(), np.float32)
                if f("infer")(model, xin.ctypes.data, batch, out.ctypes.data) != 0:
                    print("infer failed:", f("last_error")().decode())
                    return 1
                nan_ref, nan_out = np.isnan(ref), np.isnan(out)
                if (nan_ref != nan_out).any():
                    print(f"{graph.name} batch {batch}{label}: NaN in {int(nan_out.sum())} outputs, "
                          f"PyTorch in {int(nan_ref.sum())} (first differing: {np.argwhere(nan_ref != nan_out)[0]})")
                    failed = True
                    continue
                both = ~nan_ref
                finite_ref = np.where(both, ref, 0.0)
                scale = max(float(np.abs(finite_ref).max()), 1e-30)
                err = float(np.abs(np.where(both, out, 0.0) - finite_ref).max()) / scale
                worst = max(worst, err)
                print(f"{graph.name} batch {batch}{label}: max |cnnc - torch| / max |torch| = {err:.3e} "
                      f"(tol {args.tol:g}; max |torch| = {scale:.3g}, output std {float(finite_ref.std()):.3g}"
                      f"{f'; NaN in {int(nan_ref.sum())} outputs, as in PyTorch' if nan_ref.any() else ''})")
        f("destroy")(model)
    return 0 if worst <= args.tol and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
