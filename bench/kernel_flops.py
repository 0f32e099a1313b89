#!/usr/bin/env python3
"""Each inference kernel's time and GFLOP/s, slowest first: where to look.

    /usr/bin/python3 bench/kernel_flops.py examples/googlenet.cnn [--batch 8] [--calls 20] [--top 25]

Compiles the model (build/cnnc, its tuning database), runs --calls
inferences with CNNRT_PROFILE=1, and joins each kernel's median and fastest
call with the FLOPs `cnnc --summary` gives its named layer (a fused kernel is
labelled by its anchor, e.g. "%8 maxpool conv3.conv": the conv's FLOPs).
Kernels far below the machine's FMA peak (bench/fma_peak.c), or slow with no
FLOPs of their own, are the ones to read: GoogLeNet's standalone pools showed
up here at 2-5 ms each for almost no arithmetic.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import profile_table

HERE = os.path.dirname(os.path.abspath(__file__))
CNNC = os.path.join(HERE, "..", "build", "cnnc")

CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import bench
model = bench.CnncModel(sys.argv[2], sys.argv[3])
shape = [int(v) for v in sys.argv[4].split(",")]
x = np.random.default_rng(0).random((int(sys.argv[5]), *shape), dtype=np.float32)
for _ in range(int(sys.argv[6]) + 1):
    model(x)
"""


def layer_flops(model):
    """{layer name: MFLOPs per sample} from cnnc --summary."""
    out = subprocess.run([CNNC, model, "--summary"], check=True, capture_output=True, text=True).stdout
    flops = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and re.fullmatch(r"[\d.]+", fields[-1]):
            flops[fields[0]] = float(fields[-1])
    return flops


def main():
    p = argparse.ArgumentParser(description="per-kernel time and GFLOP/s (see the module docstring)")
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    source = open(args.model).read()
    name = re.search(r"network\s+(\w+)", source).group(1)
    shape = re.search(r"network\s+\w+\s*\(\s*\w+\s*:\s*\[([\d,\s]+)\]", source).group(1).replace(" ", "")
    flops = layer_flops(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, name + ".so")
        subprocess.run([CNNC, args.model, "-o", so, "-q"], check=True)
        run = subprocess.run([sys.executable, "-c", CHILD, HERE, so, name, shape, str(args.batch), str(args.calls)],
                             env=dict(os.environ, CNNRT_PROFILE="1"), capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(run.stderr.strip())
    rows = []
    for label, fastest, median in profile_table.rows(run.stderr):
        if label.startswith("(runtime) prepare"):
            continue
        layer = re.sub(r" \[batch[^\]]*\]$", "", label).split()[-1]  # a batch variant's label ends so
        mflop = flops.get(layer, 0.0) * args.batch
        rows.append((median, fastest, mflop / fastest if mflop else None, label))
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    print(f"{args.model} at batch {args.batch}: {len(rows)} kernels, medians sum to {sum(r[0] for r in rows):.2f} ms")
    print(f"{'median ms':>10} {'fastest ms':>10} {'GFLOP/s':>8}  kernel")
    for median, fastest, gflops, label in rows[:args.top]:
        rate = f"{gflops:8.1f}" if gflops is not None else f"{'-':>8}"
        print(f"{median:10.3f} {fastest:10.3f} {rate}  {label}")


if __name__ == "__main__":
    main()
