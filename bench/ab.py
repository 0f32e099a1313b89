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
import sys
import tempfile

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
    p.add_argument("--pause", type=float, default=0.05,
                   help="idle seconds before each call: the other library's Halide workers spin a while after its call")
    args = p.parse_args()
    name = os.path.basename(args.model).replace(".cnn", "")
    with tempfile.TemporaryDirectory() as tmp:
        variants, shape = {}, None
        for tag, db in (("A", args.a), ("B", args.b)):
            so, ir, _ = bench.compile_model(args.model, [f"--tuning-db={db}"], tmp)
            variants[tag] = bench.CnncModel(so, name)
            shape = bench.input_shape(ir)
        for batch in args.batches:
            x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
            # Back to back: no PyTorch here, whose spinning workers the pause is for.
            t = bench.alternate(variants, x, args.runs, pause=args.pause)
            a, b = t["A"] * 1e3, t["B"] * 1e3
            print(f"batch {batch}: A {a:.2f} ms  B {b:.2f} ms  B/A {b / a:.3f}", flush=True)

if __name__ == "__main__":
    main()
