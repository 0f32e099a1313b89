#!/usr/bin/env python3
"""A/B of two compiled training libraries on one model, in one process.

    build/cnnc examples/resnet18.cnn --train -o /tmp/a.so      # one build of cnnc
    build/cnnc examples/resnet18.cnn --train -o /tmp/b.so      # another (a change)
    /usr/bin/python3 bench/ab_train.py /tmp/a.so /tmp/b.so [--batch 8] [--runs 9]

Loads both libraries, sets SGD (lr 0.01, momentum 0.9, weight decay 5e-4) on
each and times their train_step alternately, step after step, on the same
batch, so that the machine's drifts hit both alike; prints the medians and
B/A. With CNNRT_PROFILE=1 each library prints its per-kernel table at exit.

Caveat: the library that steps second has every other optimiser step slow
(the SGD's streaming stores; docs/performance.md), which the step totals
carry; compare kernels by their rows here or with bench/kernel_mins.py.
"""

import argparse
import ctypes
import os
import statistics
import time

import numpy as np


class TrainLibrary:
    def __init__(self, path):
        self.lib = ctypes.CDLL(os.path.abspath(path))
        # The model's name prefixes every symbol: <name>_train_step.
        self.name = self._model_name(path)
        f = self.fn
        f("create").restype = ctypes.c_void_p
        f("train_step").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_float)]
        f("set_sgd").argtypes = [ctypes.c_void_p, ctypes.c_float, ctypes.c_float, ctypes.c_float]
        f("last_error").restype = ctypes.c_char_p
        self.model = f("create")()
        if not self.model:
            raise RuntimeError(f"{path}: create failed: {f('last_error')().decode()}")
        if f("set_sgd")(self.model, 0.01, 0.9, 5e-4) != 0:
            raise RuntimeError(f"{path}: set_sgd failed: {f('last_error')().decode()}")
        dims = (ctypes.c_int * 3)()
        f("input_dims")(dims)
        self.input_shape = list(dims)
        self.classes = f("output_size")()

    def _model_name(self, path):
        for line in os.popen(f"nm -D --defined-only {path!r}"):
            sym = line.split()[-1]
            if sym.endswith("_train_step"):
                return sym[: -len("_train_step")]
        raise RuntimeError(f"{path}: no <name>_train_step (compiled without --train?)")

    def fn(self, suffix):
        return getattr(self.lib, f"{self.name}_{suffix}")

    def step(self, x, y):
        loss = ctypes.c_float()
        if self.fn("train_step")(self.model, x.ctypes.data, y.ctypes.data, len(y), ctypes.byref(loss)) != 0:
            raise RuntimeError(f"train_step failed: {self.fn('last_error')().decode()}")
        return loss.value


def main():
    p = argparse.ArgumentParser(description="A/B of two training libraries (see the module docstring)")
    p.add_argument("a", help="library A (compiled with --train)")
    p.add_argument("b", help="library B")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--runs", type=int, default=9, help="timed steps of each library")
    args = p.parse_args()
    libs = {"A": TrainLibrary(args.a), "B": TrainLibrary(args.b)}
    if libs["A"].input_shape != libs["B"].input_shape or libs["A"].classes != libs["B"].classes:
        raise SystemExit("the libraries are not the same model")
    shape, classes = libs["A"].input_shape, libs["A"].classes
    x = np.random.default_rng(0).random((args.batch, *shape), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, classes, args.batch).astype(np.int32)
    times = {tag: [] for tag in libs}
    for lib in libs.values():
        lib.step(x, y)  # warm-up: allocation, first-touch
    for _ in range(args.runs):
        for tag, lib in libs.items():
            start = time.perf_counter()
            lib.step(x, y)
            times[tag].append(time.perf_counter() - start)
    a, b = (statistics.median(times[t]) * 1e3 for t in ("A", "B"))
    print(f"batch {args.batch}: A {a:.1f} ms  B {b:.1f} ms  B/A {b / a:.3f}")


if __name__ == "__main__":
    main()
