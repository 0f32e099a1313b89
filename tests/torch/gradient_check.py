#!/usr/bin/env python3
"""Finite-difference check of cnnc's training gradients, PyTorch-free.

    gradient_check.py --cnnc build/cnnc model.cnn [--samples 6] [--all-below N] [--tol 0.1]

For some entries of every parameter (all of them in tensors of at most
--all-below entries): the gradient a train step applies (SGD, lr=1, no
momentum, no weight decay: g = w_before - w_after) must match the central
difference (L(w + h/2) - L(w - h/2)) / h of the loss train_step reports, with
the step's random state (dropout masks) held fixed by loading the same weights
into a fresh model before every evaluation. Loss evaluations use lr=0.

The loss is float32, so h is not tiny (1e-2 relative by default) and relu or
max kinks can fall within it. An entry is compared only where the loss looks
smooth: the central differences with steps h and h/2 agree within half the
tolerance, and the second difference bounds what one kink could do to the
result to a quarter of it. Otherwise h is divided by 4 (--refine times) while
float32 rounding of the loss (about an ulp / h) stays below half the
tolerance. Entries with no clean step are skipped; a parameter with more than
a third of its entries skipped fails the check.
Errors are relative to the parameter's largest gradient (but at least 5% of
the network's largest).
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
    ap.add_argument("--all-below", type=int, default=0, metavar="N",
                    help="check every entry of parameters with at most N entries")
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--step", type=float, default=1e-2,
                    help="finite-difference step, relative to max(1, |w|): the loss is float32, so "
                         "much smaller steps drown in its rounding")
    ap.add_argument("--refine", type=int, default=2,
                    help="times the step is divided by 4 when a kink lies within it")
    ap.add_argument("--perturb", type=float, default=0.0, metavar="S",
                    help="add S * uniform(-1, 1) to every trainable parameter first (batchnorm's "
                         "ones and zeros become generic values)")
    ap.add_argument("--tol", type=float, default=0.1,
                    help="error allowed, relative to the parameter's largest gradient")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, "m.so")
        subprocess.run([args.cnnc, args.model, "--train", "-o", so, "-q"], check=True)
        ir = subprocess.run([args.cnnc, args.model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
        name = ir.split()[1].split("(")[0]
        lib = ctypes.CDLL(so)
        f = lambda n: getattr(lib, f"{name}_{n}")
        f("create").restype = ctypes.c_void_p
        f("destroy").argtypes = [ctypes.c_void_p]
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
        base = os.path.join(tmp, "base.st")
        ok(f("save_weights")(m, base.encode()), "save_weights")
        f("destroy")(m)
        weights = safetensors_io.load(base)
        trainable = [k for k in weights if not k.endswith(("running_mean", "running_var"))]
        if args.perturb:
            for k in trainable:
                weights[k] = (weights[k] + args.perturb * rng.uniform(-1, 1, weights[k].shape)).astype(np.float32)

        def step(w, lr):
            """Loads w (with the step counter of a fresh model), runs one step: (loss, weights after if lr)."""
            path = os.path.join(tmp, "w.st")
            safetensors_io.save(w, path)
            fresh = f("create")()
            ok(f("load_weights")(fresh, path.encode()), "load_weights")
            ok(f("set_sgd")(fresh, lr, 0.0, 0.0), "set_sgd")
            loss = ctypes.c_float()
            ok(f("train_step")(fresh, x.ctypes.data, y.ctypes.data, args.batch, ctypes.byref(loss)), "train_step")
            after = None
            if lr:
                out = os.path.join(tmp, "after.st")
                ok(f("save_weights")(fresh, out.encode()), "save_weights")
                after = safetensors_io.load(out)
            f("destroy")(fresh)
            return float(loss.value), after

        def loss_at(pname, idx, delta):
            """L(w + delta e_idx), and the float32 step actually taken."""
            w = dict(weights)
            w[pname] = weights[pname].copy()
            flat = w[pname].reshape(-1)
            flat[idx] = np.float32(float(flat[idx]) + delta)
            return step(w, 0.0)[0], float(flat[idx]) - float(weights[pname].reshape(-1)[idx])

        base_loss = step(weights, 0.0)[0]
        # Float32 rounding of the loss (an ulp or two) moves a difference
        # quotient with step h by about rounding / h: no smaller steps are tried.
        rounding = 2.0 ** -23 * max(1.0, abs(base_loss))

        def differences(pname, idx, h):
            """Central differences with steps h and h/2, and how far a kink could bend the latter."""
            (p1, t1), (m1, u1) = loss_at(pname, idx, h), loss_at(pname, idx, -h)
            (p2, t2), (m2, u2) = loss_at(pname, idx, h / 2), loss_at(pname, idx, -h / 2)
            # For a kink (slopes a, b) at distance d < h/2, the central difference
            # is off by (b - a)(h/2 - d) / h = second difference / h.
            return (p1 - m1) / (t1 - u1), (p2 - m2) / (t2 - u2), abs(p2 - 2 * base_loss + m2) / (t2 - u2)

        _, after = step(weights, 1.0)
        grads = {k: weights[k].astype(np.float64) - after[k].astype(np.float64) for k in trainable}
        # Errors are relative to the parameter's largest gradient, but never to
        # less than 5% of the network's: a bias before a batchnorm has a zero
        # gradient up to rounding, and the loss is float32.
        overall = max(float(np.abs(g).max()) for g in grads.values())
        worst, checked, skipped, failed = 0.0, 0, 0, 0
        for pname in trainable:
            w, grad = weights[pname], grads[pname].reshape(-1)
            scale = max(float(np.abs(grad).max()), 5e-2 * overall, 1e-12)
            if w.size <= args.all_below:
                entries = range(w.size)
            else:
                entries = rng.choice(w.size, size=min(args.samples, w.size), replace=False)
            p_worst, p_checked, p_skipped = 0.0, 0, 0
            for idx in entries:
                h = args.step * max(1.0, abs(float(w.reshape(-1)[idx])))
                # A relu or max kink within the step can bend the difference:
                # then smaller steps are tried, down to where float32 rounding
                # of the loss shows; entries with no clean step are skipped,
                # not compared (too many skipped ones fail the check below).
                clean = False
                for attempt in range(args.refine + 1):
                    if rounding / h > args.tol / 2 * scale:
                        break
                    wide, fd, kink = differences(pname, idx, h)
                    if max(abs(wide - fd), 2 * kink) <= args.tol / 2 * scale:
                        clean = True
                        break
                    h /= 4
                if not clean:
                    p_skipped += 1
                    continue
                err = abs(fd - grad[idx]) / scale
                p_worst = max(p_worst, err)
                p_checked += 1
                if err > args.tol:
                    failed += 1
                    print(f"  {pname}[{idx}]: step {grad[idx]:.6g} vs finite difference {fd:.6g}"
                          f" (error {err:.3g} of {scale:.3g})")
            print(f"  {pname} {list(w.shape)}: {p_checked} checked, {p_skipped} skipped (non-smooth),"
                  f" max |grad| {np.abs(grad).max():.3g}, worst error {p_worst:.3g}")
            if p_skipped > max(1, (p_checked + p_skipped) // 3):
                print(f"  {pname}: too many non-smooth entries for a meaningful check")
                failed += 1
            worst, checked, skipped = max(worst, p_worst), checked + p_checked, skipped + p_skipped
        print(f"{name}: {checked} gradient entries ({skipped} skipped), worst |step - fd| / max |grad| ="
              f" {worst:.3g} (tol {args.tol})")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
