#!/usr/bin/env python3
"""cnnc, ONNX Runtime and PyTorch on one model and one set of weights.

    ort_conformance.py --cnnc build/cnnc examples/lenet5.cnn [--batch 1 3] [--tol 1e-4]

What bench/bench.py's torch suite relies on before it times ONNX Runtime: the
PyTorch twin of the model (ir_reference's graph with random weights) exports
to ONNX with a dynamic batch, ONNX Runtime runs it through bench/ort_runner.js,
the same weights load into cnnc's library as safetensors, and for each batch
max |cnnc - torch| / max |torch| and max |ORT - torch| / max |torch| <= tol.

Exit 0: all agree; 1: a mismatch or failure; 77: torch, node or ONNX Runtime
(scripts/setup_bench.sh) missing.
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))

try:
    import numpy as np
    import torch  # noqa: F401 (bench imports it lazily; check it here)
except ImportError as e:
    print(f"SKIP: PyTorch/numpy not available ({e}); run with /usr/bin/python3")
    sys.exit(77)

import bench  # noqa: E402
import ir_reference  # noqa: E402
import torch_to_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    if not bench.ort_installed():
        print("SKIP: ONNX Runtime not installed (scripts/setup_bench.sh installs it into bench/.ort/)")
        return 77

    ir = subprocess.run([args.cnnc, args.model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
    graph = ir_reference.Graph(ir)
    ok = True
    with tempfile.TemporaryDirectory(prefix="cnnc-ort-") as tmp:
        so, weights, onnx = (os.path.join(tmp, graph.name + ext) for ext in (".so", ".safetensors", ".onnx"))
        subprocess.run([args.cnnc, args.model, "-o", so, "-q"], check=True)
        twin = bench.torch_twin(ir)
        torch_to_safetensors.save_module(twin, weights)
        bench.export_onnx(twin, graph.input_shape, onnx)
        ort = bench.OrtModel(onnx, tmp)
        try:
            variants = {"cnnc": bench.CnncModel(so, graph.name, weights), "ort": ort,
                        "torch": lambda x: twin(torch.from_numpy(x))}
            for batch in args.batch:
                x = np.random.default_rng(batch).standard_normal((batch, *graph.input_shape), dtype=np.float32)
                errors = bench.disagreement(variants, x)
                good = all(e <= args.tol for e in errors.values())
                ok = ok and good
                print(f"{graph.name} batch {batch}: max |output - torch| / max |torch|: " +
                      ", ".join(f"{k} {e:.2e}" for k, e in errors.items()) + ("" if good else "  FAIL"))
        finally:
            ort.close()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
