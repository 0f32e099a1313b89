#!/usr/bin/env python3
"""A library gives bit-identical outputs for the same input: in every call of
a process and in every fresh process, at a given batch and thread count.

    determinism.py --cnnc build/cnnc model.cnn [--calls 5000] [--processes 24]

Compiles the model, then for batch 1, 2, 3 and 8: one process calls infer
--calls times on one input and counts the calls whose output differs in any
bit from its first; --processes fresh processes each take the first call's
output (weights prepared anew, threads started anew) and must equal it too.
Two threads (the runtime's pool), so that a result that depended on which
thread ran which task would show. Exit 77 (skipped) without numpy.
"""

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy not available")
    sys.exit(77)

# Prints the hex digest of the outputs of `calls` infer calls (one line each,
# "same" where it equals the first call's bits).
CHILD = r"""
import ctypes, hashlib, sys
import numpy as np
lib = ctypes.CDLL(sys.argv[1]); name = sys.argv[2]
f = lambda n: getattr(lib, name + "_" + n)
f("create").restype = ctypes.c_void_p
f("infer").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
f("output_size").restype = ctypes.c_int
f("last_error").restype = ctypes.c_char_p
model = f("create")()
if not model:
    sys.exit("create failed: " + f("last_error")().decode())
batch, calls, sample = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
x = np.random.default_rng(1).standard_normal((batch, sample), dtype=np.float32)
out = np.empty((batch, f("output_size")()), np.float32)
first, differing = None, 0
for _ in range(calls):
    if f("infer")(model, x.ctypes.data, batch, out.ctypes.data) != 0:
        sys.exit("infer failed: " + f("last_error")().decode())
    digest = hashlib.sha256(out.tobytes()).hexdigest()
    if first is None:
        first = digest
    elif digest != first:
        differing += 1
print(first, differing)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("model")
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--processes", type=int, default=24)
    args = ap.parse_args()
    name = os.path.basename(args.model).rsplit(".", 1)[0]
    env = dict(os.environ, HL_NUM_THREADS="2")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, name + ".so")
        subprocess.run([args.cnnc, args.model, "-q", "-o", so], check=True)
        ir = subprocess.run([args.cnnc, args.model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
        sample = math.prod(int(d) for d in re.search(r"%0: f32\[N,([\d,]+)\]", ir).group(1).split(","))

        def child(batch, calls):
            r = subprocess.run([sys.executable, "-c", CHILD, so, name, str(batch), str(calls), str(sample)], env=env,
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"child failed: {r.stderr.strip()}")
            digest, differing = r.stdout.split()
            return digest, int(differing)

        for batch in (1, 2, 3, 8):
            digest, differing = child(batch, args.calls)
            fresh = [child(batch, 1)[0] for _ in range(args.processes)]
            others = sum(d != digest for d in fresh)
            print(f"{name} batch {batch}: {differing} of {args.calls} calls in one process and {others} of "
                  f"{args.processes} fresh processes differ from the first call's output")
            failed |= differing > 0 or others > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
