#!/usr/bin/env python3
"""A/B of two tuning databases on one model, in one process.

    /usr/bin/python3 bench/ab.py examples/resnet18.cnn old.tdb new.tdb [--batches 1 8] [--runs 15]

Compiles the model once with each database, then times the two libraries
alternately, call after call, so that the machine's drifts (other tenants,
frequency) hit both alike; prints the medians and B/A per batch. A change of
a few percent, which bench.py's separate runs cannot resolve on a shared
machine, shows here.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import bench  # noqa: E402


def main():
    p = argparse.ArgumentParser(description="A/B of two tuning databases (see the module docstring)")
    p.add_argument("model")
    p.add_argument("a", help="tuning database A")
    p.add_argument("b", help="tuning database B")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--runs", type=int, default=15, help="timed calls of each library per batch")
    args = p.parse_args()
    name = os.path.basename(args.model).replace(".cnn", "")
    with tempfile.TemporaryDirectory() as tmp:
        models = []
        for tag, db in (("a", args.a), ("b", args.b)):
            so = os.path.join(tmp, f"{name}-{tag}.so")
            subprocess.run([bench.CNNC, args.model, "-o", so, "-q", f"--tuning-db={db}"], check=True)
            models.append(bench.CnncModel(so, name))
        ir = subprocess.run([bench.CNNC, args.model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
        shape = bench.input_shape(ir)
        for batch in args.batches:
            x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
            for m in models:
                m(x)
            times = [[], []]
            for _ in range(args.runs):
                for i, m in enumerate(models):
                    start = time.perf_counter()
                    m(x)
                    times[i].append(time.perf_counter() - start)
            a, b = (statistics.median(t) * 1e3 for t in times)
            print(f"batch {batch}: A {a:.2f} ms  B {b:.2f} ms  B/A {b / a:.3f}", flush=True)


if __name__ == "__main__":
    main()
