#!/usr/bin/env python3
"""Finite-difference check of cnnc's training gradients, PyTorch-free.

    gradient_check.py --cnnc build/cnnc model.cnn [--samples 6] [--tol 0.05]

For a few entries of every parameter: the gradient a train step applies (SGD,
lr=1, no momentum, no weight decay: g = w_before - w_after) must match the
central difference (L(w + h) - L(w - h)) / 2h of the loss train_step reports,
with the step's random state (dropout masks) held fixed by reloading the same
checkpoint before every evaluation. Loss evaluations use lr=0 (nothing moves).
Needs numpy only (exit 77 without it).
"""

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
try:
    import numpy as np
except ImportError:
    print("SKIP: numpy not available")
    sys.exit(77)
import safetensors_io


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("model")
    ap.add_argument("--samples", type=int, default=6, help="entries checked per parameter")
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--tol", type=float, default=0.1,
                    help="relative error allowed: central differences straddle relu/max kinks now and then")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        name = os.path.splitext(os.path.basename(args.model))[0]
        so = os.path.join(tmp, "m.so")
        subprocess.run([args.cnnc, args.model, "--train", "-o", so, "-q"], check=True)
        ir = subprocess.run([args.cnnc, args.model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
        name = ir.split()[1].split("(")[0]
        lib = ctypes.CDLL(so)
        f = lambda n: getattr(lib, f"{name}_{n}")
        f("create").restype = ctypes.c_void_p
        f("last_error").restype = ctypes.c_char_p
        for fn in ("save_checkpoint", "load_checkpoint", "load_weights", "save_weights"):
            f(fn).argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        f("set_sgd").argtypes = [ctypes.c_void_p, ctypes.c_float, ctypes.c_float, ctypes.c_float]
        f("train_step").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_float)]
        f("input_dims").argtypes = [ctypes.POINTER(ctypes.c_int)]
        f("output_size").restype = ctypes.c_int
        m = f("create")()
        ok = lambda rc, what: rc == 0 or sys.exit(f"{what}: {f('last_error')().decode()}")
        dims = (ctypes.c_int * 3)()
        f("input_dims")(dims)
        x = rng.standard_normal((args.batch, *dims)).astype(np.float32)
        y = rng.integers(0, f("output_size")(), args.batch).astype(np.int32)
        base = os.path.join(tmp, "base.ckpt")
        ok(f("save_weights")(m, (base + ".st").encode()), "save_weights")
        weights = safetensors_io.load(base + ".st")

        def step(w, lr):
            """Loads w (with the step counter of a fresh model), runs one step, returns (loss, weights after)."""
            path = os.path.join(tmp, "w.st")
            safetensors_io.save(w, path)
            fresh = f("create")()
            ok(f("load_weights")(fresh, path.encode()), "load_weights")
            ok(f("set_sgd")(fresh, lr, 0.0, 0.0), "set_sgd")
            loss = ctypes.c_float()
            ok(f("train_step")(fresh, x.ctypes.data, y.ctypes.data, args.batch, ctypes.byref(loss)), "train_step")
            out = os.path.join(tmp, "after.st")
            ok(f("save_weights")(fresh, out.encode()), "save_weights")
            f("destroy")(fresh)
            return loss.value, safetensors_io.load(out)

        _, after = step(weights, 1.0)
        # Errors are relative to the parameter's largest gradient, but never to
        # less than 1% of the network's: a bias before a batchnorm has a zero
        # gradient up to rounding.
        overall = max(float(np.abs(w - after[k]).max()) for k, w in weights.items())
        worst, checked = 0.0, 0
        for pname, w in weights.items():
            if pname.endswith(("running_mean", "running_var")):
                continue
            grad = (w - after[pname]).ravel()
            scale = max(float(np.abs(grad).max()), 1e-2 * overall, 1e-12)
            for idx in rng.choice(w.size, size=min(args.samples, w.size), replace=False):
                h = 1e-3 * max(1.0, abs(float(w.ravel()[idx])))
                plus, minus = {k: v.copy() for k, v in weights.items()}, {k: v.copy() for k, v in weights.items()}
                plus[pname].ravel()[idx] += h
                minus[pname].ravel()[idx] -= h
                fd = (step(plus, 0.0)[0] - step(minus, 0.0)[0]) / (2 * h)
                err = abs(fd - grad[idx]) / scale
                worst = max(worst, err)
                checked += 1
                if err > args.tol:
                    print(f"  {pname}[{idx}]: step {grad[idx]:.6g} vs finite difference {fd:.6g}")
        print(f"{name}: {checked} gradient entries, worst |step - fd| / max |grad| = {worst:.3g} (tol {args.tol})")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
