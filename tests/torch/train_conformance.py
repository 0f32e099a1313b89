#!/usr/bin/env python3
"""Training steps of a cnnc library against PyTorch.

    train_conformance.py --cnnc build/cnnc model.cnn [--steps 3] [--batch 5] [--tol 1e-3] [--input-offset 0]
        [--zero-dropout]

Compiles the model with `--train`, gives cnnc and PyTorch the same random
weights (a safetensors file), then runs --steps SGD steps (lr 0.01, momentum
0.9, weight decay 5e-4) on the same random batches. The losses (the main
head's cross-entropy plus weight x each aux head's) and, after the last step,
every weight and running statistic must agree within --tol relative to each
tensor's largest magnitude. PyTorch executes the network with
torch.nn.functional (tests/torch/ir_reference.py) in training mode.
cnnc draws dropout masks from a hash of its own, which the reference cannot
reproduce: --zero-dropout compiles the network's IR with every dropout at p=0
(gradient_check.py covers dropout's masks).
Exit 0: match; 1: mismatch; 77: PyTorch missing (ctest skip).
"""

import argparse
import ctypes
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"SKIP: PyTorch/numpy not available ({e})")
    sys.exit(77)

import conformance
import ir_reference
import safetensors_io


def step_error(f, model, ok, x, y, ref_loss, step):
    """One cnnc train_step on (x, y); prints its loss beside PyTorch's `ref_loss`
    and returns their relative difference."""
    loss = ctypes.c_float()
    xin = np.ascontiguousarray(x.numpy(), np.float32)
    yin = np.ascontiguousarray(y.numpy(), np.int32)
    ok(f("train_step")(model, xin.ctypes.data, yin.ctypes.data, len(yin), ctypes.byref(loss)), "train_step")
    err = abs(loss.value - ref_loss.item()) / max(abs(ref_loss.item()), 1e-12)
    print(f"step {step + 1}: loss cnnc {loss.value:.6f} torch {ref_loss.item():.6f} (rel err {err:.2e})")
    return err


def weights_error(after, reference, tol):
    """The largest relative difference between cnnc's weights `after` and PyTorch's
    `reference` tensors (each against its largest magnitude); prints those over tol."""
    worst = 0.0
    for name, ref in reference.items():
        ref = ref.detach().numpy()
        err = float(np.abs(after[name] - ref).max()) / max(float(np.abs(ref).max()), 1e-12)
        worst = max(worst, err)
        if err > tol:
            print(f"  {name}: max rel err {err:.2e}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("model")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    ap.add_argument("--input-offset", type=float, default=0.0,
                    help="added to every input (inputs far from zero against their spread)")
    ap.add_argument("--zero-dropout", action="store_true", help="compile every dropout with p=0")
    args = ap.parse_args()

    gen = torch.Generator().manual_seed(1)
    ir = subprocess.run([args.cnnc, args.model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
    if args.zero_dropout:
        ir = re.sub(r"(= dropout\(%\d+\) )\{p=[^}]*\}", r"\1{p=0.0}", ir)
    graph = ir_reference.Graph(ir)
    weights = conformance.random_weights(graph.parameter_shapes(), gen)
    classes = graph.run(torch.zeros([1] + graph.input_shape), weights, logits=True).shape[1]

    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, graph.name + ".so")
        source = args.model
        if args.zero_dropout:
            source = os.path.join(tmp, graph.name + ".ir")
            with open(source, "w") as f:
                f.write(ir)
        subprocess.run([args.cnnc, source, "--train", "-o", so, "-q"], check=True)
        st = os.path.join(tmp, "w.safetensors")
        safetensors_io.save({k: v.numpy() for k, v in weights.items()}, st)
        lib, f = conformance.load_model(so, graph.name)
        f("train_step").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_float)]
        f("set_sgd").argtypes = [ctypes.c_void_p, ctypes.c_float, ctypes.c_float, ctypes.c_float]
        f("set_adam").argtypes = [ctypes.c_void_p] + [ctypes.c_float] * 5
        f("save_weights").argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        model = f("create")()
        ok = lambda rc, what: rc == 0 or sys.exit(f"{what} failed: {f('last_error')().decode()}")
        ok(f("load_weights")(model, st.encode()), "load_weights")

        params = {k: v.clone().requires_grad_(not k.endswith(("running_mean", "running_var")))
                  for k, v in weights.items()}
        learned = [v for v in params.values() if v.requires_grad]
        if args.optimizer == "sgd":
            ok(f("set_sgd")(model, 0.01, 0.9, 5e-4), "set_sgd")
            opt = torch.optim.SGD(learned, lr=0.01, momentum=0.9, weight_decay=5e-4)
        else:
            ok(f("set_adam")(model, 1e-3, 0.9, 0.999, 1e-8, 5e-4), "set_adam")
            opt = torch.optim.Adam(learned, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4)

        worst = 0.0
        for step in range(args.steps):
            x = torch.randn([args.batch] + graph.input_shape, generator=gen) + args.input_offset
            y = torch.randint(0, classes, (args.batch,), generator=gen)
            opt.zero_grad()
            ref_loss = sum(w * F.cross_entropy(z.reshape(args.batch, -1), y)
                           for w, z in graph.training_heads(x, params))
            ref_loss.backward()
            opt.step()
            worst = max(worst, step_error(f, model, ok, x, y, ref_loss, step))

        out = os.path.join(tmp, "after.safetensors")
        ok(f("save_weights")(model, out.encode()), "save_weights")
        worst = max(worst, weights_error(safetensors_io.load(out), params, args.tol))
        print(f"{graph.name}: worst relative error {worst:.2e} (tol {args.tol:g})")
        f("destroy")(model)
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
