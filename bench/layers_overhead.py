#!/usr/bin/env python3
"""<name>_infer with and without the layer kernels (cnnc --no-layers), same run.

    /usr/bin/python3 bench/layers_overhead.py --cnnc build/cnnc [--models lenet5 resnet18] [--runs 21]

The layer plan (codegen/LayerPlan.h) adds kernels only <name>_infer_layer and
<name>_input_gradient run; <name>_infer runs the same fused kernels either way.
Both libraries are loaded in one process and timed alternately (median of
--runs calls per batch after a warm-up), so machine noise hits both alike. Each library has a thread pool of its own,
whose workers spin after a loop (CNNRT_SPIN_US) and would take the cores from
the other's: the pools do not spin here.
"""

import argparse
import ctypes
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHES = {"lenet5": (1, 64), "resnet18": (1, 8)}


os.environ["CNNRT_SPIN_US"] = "0"  # read when a library's pool starts


def load(path, name):
    lib = ctypes.CDLL(path)
    infer = getattr(lib, f"{name}_infer")
    infer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    getattr(lib, f"{name}_create").restype = ctypes.c_void_p
    dims = (ctypes.c_int * 3)()
    getattr(lib, f"{name}_input_dims")(dims)
    return infer, getattr(lib, f"{name}_create")(), list(dims), getattr(lib, f"{name}_output_size")()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--models", nargs="+", default=["lenet5", "resnet18"])
    ap.add_argument("--runs", type=int, default=51)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            source = os.path.join(HERE, "..", "examples", model + ".cnn")
            variants = {}
            for label, flags in (("--no-layers", ["--no-layers"]), ("with layers", [])):
                so = os.path.join(tmp, f"{model}{len(variants)}.so")
                subprocess.run([args.cnnc, source, "-q", "-o", so] + flags, check=True)
                variants[label] = load(so, model)
            for batch in BATCHES.get(model, (1, 8)):
                _, _, dims, outs = variants["--no-layers"]
                x = np.random.default_rng(0).random([batch] + dims, dtype=np.float32)
                out = np.zeros((batch, outs), np.float32)
                times = {label: [] for label in variants}
                for infer, m, _, _ in variants.values():
                    for _ in range(3):
                        infer(m, x.ctypes.data, batch, out.ctypes.data)
                for r in range(args.runs):
                    for label in (list(variants) if r % 2 == 0 else list(reversed(variants))):
                        infer, m, _, _ = variants[label]
                        t = time.perf_counter()
                        infer(m, x.ctypes.data, batch, out.ctypes.data)
                        times[label].append(time.perf_counter() - t)
                med = {label: statistics.median(v) * 1e3 for label, v in times.items()}
                print(f"{model} batch {batch}: infer {med['--no-layers']:.3f} ms with --no-layers, "
                      f"{med['with layers']:.3f} ms with layers ({med['with layers'] / med['--no-layers']:.3f}x)")


if __name__ == "__main__":
    main()
