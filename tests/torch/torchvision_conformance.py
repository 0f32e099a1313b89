#!/usr/bin/env python3
"""Compiles a model-zoo network with cnnc and compares it with torchvision's.

    torchvision_conformance.py --cnnc build/cnnc --model resnet18 [--batch 1 3 8]
        [--cnn examples/resnet18.cnn] [--tol 1e-4] [--max-compile-s 180] [--seed 0]

Builds torchvision.models.<model>(weights=None, ...) (torchvision 0.14 layout),
randomises every weight and the batchnorm running statistics, and checks that:
  1. the .cnn file's parameter names and shapes (cnnc --emit=ir) are exactly
     the torchvision state_dict's keys and shapes (num_batches_tracked aside);
  2. torchvision's trainable parameter count equals the published one;
  3. the state_dict, written as safetensors with scripts/safetensors_io.py,
     loads into the library cnnc compiled (through ctypes);
  4. for each batch size, max |cnnc - torch| / max |torch| <= tol on the same
     random input (torch in eval mode, so dropout is the identity and
     batchnorm uses the running statistics);
  5. cnnc's compile time (wall, as reported by --time-passes) is at most
     --max-compile-s (0: report only). A warm kernel cache ($CNNC_CACHE_DIR)
     makes this much shorter; the script prints how many kernels came from it.

Exit 0: all good; 1: mismatch or failure; 77: torch/torchvision/numpy missing.
"""

import argparse
import ctypes
import gc
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

try:
    import numpy as np
    import torch
    import torchvision
except ImportError as e:
    print(f"SKIP: PyTorch/torchvision/numpy not available ({e}); install python3-torch python3-torchvision "
          "and run with /usr/bin/python3")
    sys.exit(77)

import ir_reference
import safetensors_io
from conformance import load_model as load_library, randomized

# Published trainable-parameter counts (torchvision weights' meta "num_params";
# GoogLeNet's and Inception-v3's are without their auxiliary heads).
MODELS = {
    "alexnet": dict(kwargs={}, params=61_100_840),
    "vgg16": dict(kwargs={"init_weights": False}, params=138_357_544),
    "googlenet": dict(kwargs={"aux_logits": True, "init_weights": False, "transform_input": False},
                      params=6_624_904),
    "resnet18": dict(kwargs={}, params=11_689_512),
    "inception_v3": dict(kwargs={"aux_logits": True, "init_weights": False, "transform_input": False},
                         params=23_834_568),
}
AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")


def build_torch_model(name, seed):
    """torchvision model with random weights and batchnorm statistics, in eval mode."""
    torch.manual_seed(seed)
    return randomized(getattr(torchvision.models, name)(weights=None, **MODELS[name]["kwargs"]), seed)


def compile_model(cnnc, cnn, so, flags):
    """Runs cnnc --time-passes; returns (wall seconds measured here, cnnc's total, cache line)."""
    start = time.monotonic()
    r = subprocess.run([cnnc, cnn, "-o", so, "--time-passes"] + flags, capture_output=True, text=True)
    wall = time.monotonic() - start
    if r.returncode != 0:
        sys.stdout.write(r.stdout + r.stderr)
        raise RuntimeError(f"cnnc failed with exit code {r.returncode}")
    total = re.search(r"^\s*([0-9.]+)\s+100\.0%\s+total\s*$", r.stderr, re.M)
    wrote = re.search(r"^cnnc: wrote .*$", r.stderr, re.M)
    return wall, float(total.group(1)) if total else float("nan"), wrote.group(0) if wrote else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--cnn", help="the .cnn file (default: examples/<model>.cnn)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--max-compile-s", type=float, default=180.0)
    ap.add_argument("--seed", type=int, default=0)
    argv = sys.argv[1:]
    flags = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    cnn = args.cnn or os.path.join(ROOT, "examples", args.model + ".cnn")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ok = True

    # 1. Parameter names and shapes.
    ir = subprocess.run([args.cnnc, cnn, "--emit=ir"], check=True, capture_output=True, text=True).stdout
    graph = ir_reference.Graph(ir)
    ours = {k: tuple(v) for k, v in graph.parameter_shapes().items()}
    model = build_torch_model(args.model, args.seed)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    theirs = {k: tuple(v.shape) for k, v in state.items()}
    if ours != theirs:
        ok = False
        print(f"FAIL: parameter names/shapes differ from torchvision's state_dict")
        for k in sorted(set(ours) | set(theirs)):
            if ours.get(k) != theirs.get(k):
                print(f"  {k}: cnnc {ours.get(k)}  torchvision {theirs.get(k)}")
    else:
        print(f"{args.model}: {len(ours)} tensors, names and shapes equal torchvision's state_dict")

    # 2. Published parameter count (trainable parameters, aux heads excluded).
    count = sum(p.numel() for n, p in model.named_parameters() if not n.startswith(AUX_PREFIXES))
    print(f"{args.model}: torchvision parameters without aux heads {count:,} (published {MODELS[args.model]['params']:,})")
    if count != MODELS[args.model]["params"]:
        ok = False
        print("FAIL: parameter count differs from the published one")

    with tempfile.TemporaryDirectory(prefix="cnnc-zoo-") as tmp:
        # 3. Compile, write the weights, load them.
        so = os.path.join(tmp, graph.name + ".so")
        try:
            wall, total, wrote = compile_model(args.cnnc, cnn, so, flags)
        except RuntimeError as e:
            print("FAIL:", e)
            return 1
        print(f"{args.model}: cnnc compile time {total:.1f} s (--time-passes total; {wall:.1f} s wall) "
              f"[{wrote.replace('cnnc: ', '')}]")
        if args.max_compile_s > 0 and total > args.max_compile_s:
            ok = False
            print(f"FAIL: compile time {total:.1f} s exceeds {args.max_compile_s:g} s")

        st = os.path.join(tmp, "weights.safetensors")
        # .numpy() shares the tensors' memory: the only extra copy is the writer's.
        safetensors_io.save({k: v.numpy() for k, v in state.items()}, st)
        del state
        gc.collect()
        print(f"{args.model}: weights file {os.path.getsize(st) / 1e6:.1f} MB")

        lib, f = load_library(so, graph.name)
        handle = f("create")()
        if not handle:
            print("FAIL: create:", f("last_error")().decode())
            return 1
        try:
            if f("load_weights")(handle, st.encode()) != 0:
                print("FAIL: load_weights:", f("last_error")().decode())
                return 1
            os.unlink(st)
            outsize = f("output_size")()

            # 4. Outputs.
            gen = torch.Generator().manual_seed(args.seed + 1)
            for batch in args.batch:
                x = torch.randn([batch] + graph.input_shape, generator=gen)
                t0 = time.monotonic()
                with torch.no_grad():
                    ref = model(x).reshape(batch, -1).numpy()
                t_torch = time.monotonic() - t0
                out = np.zeros((batch, outsize), np.float32)
                xin = np.ascontiguousarray(x.numpy(), np.float32)
                t0 = time.monotonic()
                rc = f("infer")(handle, xin.ctypes.data, batch, out.ctypes.data)
                t_cnnc = time.monotonic() - t0
                if rc != 0:
                    print(f"FAIL: infer (batch {batch}):", f("last_error")().decode())
                    return 1
                scale = max(float(np.abs(ref).max()), 1e-30)
                err = float(np.abs(out - ref).max()) / scale
                good = err <= args.tol and np.isfinite(out).all()
                ok = ok and good
                print(f"{args.model} batch {batch}: max |cnnc - torch| / max |torch| = {err:.3e} "
                      f"(tol {args.tol:g}; max |torch| = {scale:.3g}, output std {float(ref.std()):.3g}; "
                      f"argmax agree {int((out.argmax(1) == ref.argmax(1)).sum())}/{batch}) "
                      f"infer cnnc {t_cnnc:.3f} s, torch {t_torch:.3f} s{'' if good else '  FAIL'}")
        finally:
            f("destroy")(handle)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
