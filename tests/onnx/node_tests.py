#!/usr/bin/env python3
"""Runs ONNX's backend node tests (libonnx-testdata, read in place) through cnnc.

    node_tests.py --cnnc build/cnnc [--list tests/onnx/node_tests.txt] [--jobs 2]
        [--data /usr/share/libonnx-testdata/data] [--only test_relu ...]

The list names one test folder (relative to --data) a line: `pass node/test_relu`
must compile and match every test_data_set (|cnnc - expected| <= 1e-7 + 1e-3
|expected|); `skip node/test_x: reason` is not run. Graph inputs after the first
are parameters: they go into the weights file with the model's initializers.
Models compile --jobs at a time. Exit 0: every `pass` test passed; 1: one
failed; 77: numpy/onnx or the test data are missing.
"""

import argparse
import concurrent.futures
import ctypes
import glob
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "torch"))

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
except ImportError as e:
    print(f"SKIP: numpy/onnx not available ({e}); install python3-onnx and run with /usr/bin/python3")
    sys.exit(77)

import safetensors_io
from model_library import load_model

RTOL, ATOL = 1e-3, 1e-7


def read_list(path):
    tests = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            kind, _, rest = line.partition(" ")
            name, _, reason = rest.partition(":")
            if kind not in ("pass", "skip") or not name.strip() or (kind == "skip" and not reason.strip()):
                raise SystemExit(f"{path}: malformed line: {line}")
            tests.append((kind, name.strip(), reason.strip()))
    return tests


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def compile_test(cnnc, folder, tmp, index):
    name = f"node{index}"
    so = os.path.join(tmp, name + ".so")
    r = subprocess.run([cnnc, os.path.join(folder, "model.onnx"), "-o", so, "-q", f"--name={name}"],
                       capture_output=True, text=True)
    return name, so, r


def run_test(cnnc, folder, name, so, tmp):
    """Returns an error message, or None when every data set matches."""
    model = onnx.load(os.path.join(folder, "model.onnx"), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in initializers]
    weights_file = os.path.join(tmp, name + ".onnx.safetensors")
    subprocess.run([cnnc, os.path.join(folder, "model.onnx"), "--emit=weights", "-o", weights_file], check=True)
    weights, meta = safetensors_io.load(weights_file, with_metadata=True)
    by_onnx = {}
    for param, onnx_name in meta.items():
        by_onnx.setdefault(onnx_name, []).append(param)
    _, f = load_model(so, name)
    # Every parameter's name and shape: a fresh model's own weights file.
    handle = f("create")()
    shapes_file = os.path.join(tmp, name + ".init.safetensors")
    if not handle or f("save_weights")(handle, shapes_file.encode()) != 0:
        return "create/save_weights: " + f("last_error")().decode()
    f("destroy")(handle)
    shapes = {k: v.shape for k, v in safetensors_io.load(shapes_file).items()}
    sets = sorted(glob.glob(os.path.join(folder, "test_data_set_*")))
    if not sets:
        return "no test_data_set"
    for ds in sets:
        x = load_pb(os.path.join(ds, "input_0.pb")).astype(np.float32)
        for k, input_name in enumerate(inputs[1:], start=1):
            value = load_pb(os.path.join(ds, f"input_{k}.pb")).astype(np.float32)
            for param in by_onnx.get(input_name, []):
                weights[param] = value.reshape(shapes[param])
        st = os.path.join(tmp, name + ".set.safetensors")
        safetensors_io.save(weights, st)
        handle = f("create")()
        if not handle or f("load_weights")(handle, st.encode()) != 0:
            return "load_weights: " + f("last_error")().decode()
        expected = load_pb(os.path.join(ds, "output_0.pb"))
        per_sample = int(np.prod(expected.shape[1:])) if expected.ndim else -1
        if expected.ndim == 0 or expected.shape[0] != x.shape[0] or f("output_size")() != per_sample:
            return (f"{os.path.basename(ds)}: output shape {list(expected.shape)}, cnnc's is "
                    f"[{x.shape[0]}, {f('output_size')()} per sample]")
        out = np.zeros(expected.shape, np.float32)
        xin = np.ascontiguousarray(x)
        if f("infer")(handle, xin.ctypes.data, x.shape[0], out.ctypes.data) != 0:
            return "infer: " + f("last_error")().decode()
        f("destroy")(handle)
        bad = np.abs(out - expected) > ATOL + RTOL * np.abs(expected)
        if bad.any() or np.isnan(out).any() != np.isnan(expected).any():
            i = np.argwhere(bad)[0] if bad.any() else None
            return (f"{os.path.basename(ds)}: {int(bad.sum())} of {out.size} outputs differ"
                    + (f", e.g. at {tuple(i)}: {out[tuple(i)]} vs {expected[tuple(i)]}" if i is not None else ""))
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--list", default=os.path.join(HERE, "node_tests.txt"))
    ap.add_argument("--data", default="/usr/share/libonnx-testdata/data")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="run these folders (node/test_x) regardless of the list")
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        print(f"SKIP: {args.data} not found; install libonnx-testdata")
        return 77
    tests = [("pass", t, "") for t in args.only] if args.only else read_list(args.list)
    runs = [t for t in tests if t[0] == "pass"]
    print(f"{len(runs)} tests to run, {len(tests) - len(runs)} skipped by the list")
    start = time.time()
    failures = []
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(compile_test, args.cnnc, os.path.join(args.data, t[1]), tmp, i)
                   for i, t in enumerate(runs)]
        for (kind, test, _), fut in zip(runs, futures):
            name, so, r = fut.result()
            folder = os.path.join(args.data, test)
            if r.returncode != 0:
                error = "cnnc: " + r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"cnnc exit {r.returncode}"
            else:
                try:
                    error = run_test(args.cnnc, folder, name, so, tmp)
                except Exception as e:  # a broken test must not hide the others
                    error = f"{type(e).__name__}: {e}"
            print(f"{'FAIL' if error else 'ok  '} {test}" + (f": {error}" if error else ""), flush=True)
            if error:
                failures.append(test)
    print(f"{len(runs) - len(failures)} of {len(runs)} passed in {time.time() - start:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
