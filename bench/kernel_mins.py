#!/usr/bin/env python3
"""Each kernel's fastest call in training libraries, over separate processes.

    build/cnnc examples/resnet18.cnn --train -o /tmp/a.so      # one build of cnnc
    build/cnnc examples/resnet18.cnn --train -o /tmp/b.so      # another (a change)
    /usr/bin/python3 bench/kernel_mins.py /tmp/a.so /tmp/b.so [--rounds 3] [--batch 8] [--steps 6] [--top 25]

Runs --steps train_steps of each library in a process of its own with
CNNRT_PROFILE=1, library after library, --rounds times, and keeps each
kernel's fastest call over all of them; prints the slowest kernels, the sums
per kind of kernel and per step, and each library's fastest median step. On a
shared machine the fastest call is the steadiest figure to compare kernels by,
and separate processes keep two libraries' thread pools and caches apart
(bench/ab_train.py times them alternately in one process instead).
"""

import argparse
import collections
import os
import re
import subprocess
import sys

import profile_table

HERE = os.path.dirname(os.path.abspath(__file__))

# One process: steps of one library, its median step on stdout.
CHILD = r"""
import statistics, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import ab_train
lib = ab_train.TrainLibrary(sys.argv[2])
batch, steps = int(sys.argv[3]), int(sys.argv[4])
x = np.random.default_rng(0).random((batch, *lib.input_shape), dtype=np.float32)
y = np.random.default_rng(1).integers(0, lib.classes, batch).astype(np.int32)
lib.step(x, y)
times = []
for _ in range(steps):
    start = time.perf_counter()
    lib.step(x, y)
    times.append(time.perf_counter() - start)
print(f"median step {statistics.median(times) * 1e3:.3f}")
"""


def profile(so, batch, steps):
    env = dict(os.environ, CNNRT_PROFILE="1")
    r = subprocess.run([sys.executable, "-c", CHILD, HERE, so, str(batch), str(steps)], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{so}: {r.stderr.strip()}")
    step = float(re.search(r"median step ([\d.]+)", r.stdout).group(1))
    fastest = {kernel: ms for kernel, ms, _ in profile_table.rows(r.stderr)}
    return step, fastest


def main():
    p = argparse.ArgumentParser(description="each kernel's fastest call (see the module docstring)")
    p.add_argument("libraries", nargs="+", help="libraries compiled with --train")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=6, help="timed steps per process")
    p.add_argument("--top", type=int, default=25, help="kernels listed, slowest first")
    args = p.parse_args()
    best = {so: collections.defaultdict(lambda: float("inf")) for so in args.libraries}
    steps = {so: float("inf") for so in args.libraries}
    for _ in range(args.rounds):
        for so in args.libraries:
            step, fastest = profile(so, args.batch, args.steps)
            steps[so] = min(steps[so], step)
            for kernel, ms in fastest.items():
                best[so][kernel] = min(best[so][kernel], ms)
    first = best[args.libraries[0]]
    names = [os.path.basename(so)[:14].rjust(14) for so in args.libraries]
    row = lambda label, values: print(label[:44].ljust(44), *[f"{v:14.3f}" for v in values])
    print("kernel (fastest call, ms)".ljust(44), *names)
    for kernel in sorted(first, key=lambda k: -first[k])[: args.top]:
        row(kernel, [best[so].get(kernel, float("nan")) for so in args.libraries])
    kinds = collections.defaultdict(lambda: [0.0] * len(args.libraries))
    for i, so in enumerate(args.libraries):
        for kernel, ms in best[so].items():
            kinds[re.sub(r"^%\d+ ", "", kernel)][i] += ms
    print()
    for kind in sorted(kinds, key=lambda k: -kinds[k][0]):
        row("sum: " + kind, kinds[kind])
    row("sum of every kernel's fastest call", [sum(best[so].values()) for so in args.libraries])
    row("fastest median step", [steps[so] for so in args.libraries])


if __name__ == "__main__":
    main()
