#!/usr/bin/env python3
"""Fine-tuning an imported model: three SGD steps from the ONNX file's own weights.

    train_imported.py --cnnc build/cnnc [--model lenet5|asymmetric_pad] [--steps 3] [--batch 5] [--tol 1e-3]
        [--constant-folding]

Exports the network (random weights) with torch.onnx.export, compiles the
file with `cnnc --train`, and creates the model: it starts with the weights
compiled in from the file. Then cnnc and PyTorch take the same SGD steps (lr
0.01, momentum 0.9, weight decay 5e-4) on the same random batches: the losses,
and every weight after the last step, must agree within --tol relative to
each tensor's largest magnitude. A network ending in softmax trains on its
logits in both (cross-entropy of the output's softmax).

Exit 0: match; 1: mismatch; 77: torch/onnx missing.
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

from torch_export import MODELS, load_library, randomized  # exits 77 without torch/onnx
from train_conformance import step_error, weights_error

import safetensors_io
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--model", default="lenet5", choices=["lenet5", "asymmetric_pad"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--constant-folding", action="store_true",
                    help="export with torch's constant folding (F.pad's pads arithmetic needs it: Mul and Sub "
                         "of constants, which cnnc does not evaluate)")
    args = ap.parse_args()

    spec = MODELS[args.model]
    model = randomized(spec["build"](), seed=3)
    gen = torch.Generator().manual_seed(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        torch.onnx.export(model, torch.zeros([1] + spec["shape"]), path, opset_version=13, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}}, training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=args.constant_folding)
        name = "imported"
        so = os.path.join(tmp, name + ".so")
        subprocess.run([args.cnnc, path, "--train", "-q", f"--name={name}", "-o", so], check=True)
        lib, f = load_library(so, name)
        f("train_step").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_float)]
        f("set_sgd").argtypes = [ctypes.c_void_p, ctypes.c_float, ctypes.c_float, ctypes.c_float]
        f("save_weights").argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        handle = f("create")()  # the file's weights, compiled in
        ok = lambda rc, what: rc == 0 or sys.exit(f"{what} failed: {f('last_error')().decode()}")
        ok(0 if handle else 1, "create")
        ok(f("set_sgd")(handle, 0.01, 0.9, 5e-4), "set_sgd")

        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        worst = 0.0
        for step in range(args.steps):
            x = torch.randn([args.batch] + spec["shape"], generator=gen)
            y = torch.randint(0, 10, (args.batch,), generator=gen)
            opt.zero_grad()
            ref_loss = torch.nn.functional.nll_loss(torch.log(model(x)), y)  # the output is softmax(logits)
            ref_loss.backward()
            opt.step()
            worst = max(worst, step_error(f, handle, ok, x, y, ref_loss, step))

        out = os.path.join(tmp, "after.safetensors")
        ok(f("save_weights")(handle, out.encode()), "save_weights")
        after = safetensors_io.load(out)
        state = model.state_dict()
        if sorted(after) != sorted(state):
            print(f"parameter names differ: cnnc {sorted(after)}, torch {sorted(state)}")
            return 1
        worst = max(worst, weights_error(after, state, args.tol))
        print(f"{args.model} from its ONNX weights: worst relative error {worst:.2e} (tol {args.tol:g})")
        f("destroy")(handle)
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
