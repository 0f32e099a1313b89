#!/usr/bin/env python3
"""A library built with wide (AVX-512) and portable (AVX2) kernels picks its
kernels per process from CPUID, and both forms compute the same thing.

    isa_dispatch.py --cnnc build/cnnc model.cnn

Compiles the model with `--target=<AVX-512>,<AVX2> --train` (every kernel in
both forms) and, for comparison, with the AVX2 target alone; then in fresh
processes: infers at batch 1 and 7 and takes one SGD step, once as the CPU
allows and once with CNNRT_MAX_ISA_LEVEL=3 (the portable forms). Outputs and
losses must agree within 1e-5 (relative to the largest output), the two-form
library must hold more kernels than the one-form one, and with
CNNRT_MAX_ISA_LEVEL=2 creating a model must fail with a message naming what the
kernels need. Exit 77 (skipped) on a CPU without AVX-512 or without numpy.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy not available")
    sys.exit(77)

WIDE = "x86-64-linux-avx-avx2-avx512-avx512_skylake-f16c-fma-sse41"
PORTABLE = "x86-64-linux-avx-avx2-f16c-fma-sse41"

# Runs in a fresh process (the ISA is chosen at create): prints a JSON object
# with the outputs at batch 1 and 7 and one training step's loss, or the error.
CHILD = r"""
import ctypes, json, sys
import numpy as np
lib = ctypes.CDLL(sys.argv[1]); name = sys.argv[2]
f = lambda n: getattr(lib, name + "_" + n)
f("create").restype = ctypes.c_void_p
f("last_error").restype = ctypes.c_char_p
f("output_size").restype = ctypes.c_int
f("input_dims").argtypes = [ctypes.POINTER(ctypes.c_int)]
f("infer").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
f("train_step").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                            ctypes.POINTER(ctypes.c_float)]
f("set_sgd").argtypes = [ctypes.c_void_p, ctypes.c_float, ctypes.c_float, ctypes.c_float]
model = f("create")()
if not model:
    print(json.dumps({"error": f("last_error")().decode()})); sys.exit(0)
dims = (ctypes.c_int * 3)(); f("input_dims")(dims)
result = {}
for batch in (1, 7):
    x = np.random.default_rng(batch).random((batch, *dims), dtype=np.float32)
    out = np.empty((batch, f("output_size")()), np.float32)
    assert f("infer")(model, x.ctypes.data, batch, out.ctypes.data) == 0, f("last_error")()
    result[str(batch)] = out.ravel().tolist()
x = np.random.default_rng(3).random((4, *dims), dtype=np.float32)
labels = (np.arange(4) % f("output_size")()).astype(np.int32)
loss = ctypes.c_float()
f("set_sgd")(model, 0.01, 0.9, 0.0)
for _ in range(2):  # the second step's loss depends on the first step's gradients
    assert f("train_step")(model, x.ctypes.data, labels.ctypes.data, 4, ctypes.byref(loss)) == 0, f("last_error")()
result["loss"] = loss.value
print(json.dumps(result))
"""


def run(lib, name, level=None):
    env = dict(os.environ)
    env.pop("CNNRT_MAX_ISA_LEVEL", None)
    if level is not None:
        env["CNNRT_MAX_ISA_LEVEL"] = str(level)
    out = subprocess.run([sys.executable, "-c", CHILD, lib, name], env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.splitlines()[-1])


def kernel_symbols(lib):
    out = subprocess.run(["nm", lib], check=True, capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.endswith("_argv") and " cnnc_k" in line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("model")
    args = ap.parse_args()
    if "avx512f" not in open("/proc/cpuinfo").read():
        print("SKIP: this CPU has no AVX-512")
        return 77
    name = subprocess.run([args.cnnc, args.model, "--emit=ir"], check=True, capture_output=True,
                          text=True).stdout.split("network ", 1)[1].split("(", 1)[0].strip()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        both, portable = os.path.join(tmp, "both.so"), os.path.join(tmp, "portable.so")
        subprocess.run([args.cnnc, args.model, "--train", "-q", f"--target={WIDE},{PORTABLE}", "-o", both], check=True)
        subprocess.run([args.cnnc, args.model, "--train", "-q", f"--target={PORTABLE}", "-o", portable], check=True)
        n_both, n_portable = kernel_symbols(both), kernel_symbols(portable)
        print(f"kernels: {n_both} with both forms, {n_portable} portable only")
        if not n_both > n_portable:
            failures.append("the two-form library holds no more kernels than the portable one")
        wide, forced = run(both, name), run(both, name, level=3)
        for key in ("1", "7", "loss"):
            a, b = np.asarray(wide[key], np.float64), np.asarray(forced[key], np.float64)
            scale = max(1.0, float(np.max(np.abs(a))))
            err = float(np.max(np.abs(a - b))) / scale
            print(f"{key:>4}: wide vs portable kernels, max difference {err:.2e} (relative)")
            if not np.all(np.isfinite(a)) or err > 1e-5:
                failures.append(f"{key}: wide and portable kernels differ by {err:.2e}")
        refused = run(both, name, level=2)
        print(f"CNNRT_MAX_ISA_LEVEL=2: {refused.get('error', 'created a model')}")
        if "x86-64-v3" not in refused.get("error", ""):
            failures.append("a CPU below the portable kernels' ISA was not refused with a clear message")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
