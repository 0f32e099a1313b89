#!/usr/bin/env python3
"""cnnc's benchmark harness: cnnc against itself (fusion) and against PyTorch.

    bench/bench.py fusion [--runs 7]          fused vs --disable-pass=fuse: conv stack, LeNet-5
    bench/bench.py torch  [--models lenet5 alexnet ...] [--batches 1 8]
                          [--untuned] [--autoschedule Adams2019]
                                              cnnc vs PyTorch 1.13 (same run, alternating);
                                              optionally also cnnc with default schedules
                                              (--no-tuning) and with Halide's autoscheduler
    bench/bench.py train  [--models lenet5 resnet18]
                                              one SGD training step (LeNet-5 batch 64,
                                              ResNet-18 batch 8) vs PyTorch

Each figure is the median of --runs timed runs after a warm-up; the variants
are timed alternately inside one process so machine noise hits both alike.
Peak memory is measured in a fresh process per variant: the growth of peak RSS
from a loaded model (weights in memory) to after two inferences, i.e. the
memory inference itself needs (activations, workspaces). Results go to bench/results/*.json
and a Markdown table on stdout (the README's tables are pasted from it).
Use Debian's /usr/bin/python3 (it has python3-torch). bench/ab.py compares two
tuning databases on one model, alternating in one process.
"""

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "torch"))
import numpy as np  # noqa: E402

CNNC = os.environ.get("CNNC", os.path.join(ROOT, "build", "cnnc"))
ZOO = {"alexnet", "vgg16", "googlenet", "resnet18"}


def compile_model(model, flags, outdir):
    so = os.path.join(outdir, os.path.basename(model).replace(".cnn", "") + "-" + str(abs(hash(tuple(flags)))) + ".so")
    subprocess.run([CNNC, model, "-o", so, "-q"] + flags, check=True)
    ir = subprocess.run([CNNC, model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
    summary = subprocess.run([CNNC, model, "--summary"] + flags, check=True, capture_output=True, text=True).stdout
    mflops = float(next(l for l in summary.splitlines() if l.startswith("forward MFLOPs")).split(":")[1])
    return so, ir, mflops


class CnncModel:
    def __init__(self, so, name, threads=0):
        self.lib = ctypes.CDLL(so)
        f = lambda n: getattr(self.lib, f"{name}_{n}")
        f("create").restype = ctypes.c_void_p
        f("infer").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        f("output_size").restype = ctypes.c_int
        self.model = f("create")()
        self.infer_fn, self.out_size = f("infer"), f("output_size")()

    def __call__(self, x):
        out = np.empty((x.shape[0], self.out_size), np.float32)
        if self.infer_fn(self.model, x.ctypes.data, x.shape[0], out.ctypes.data) != 0:
            raise RuntimeError("infer failed")
        return out


def torch_model(name, ir):
    import torch
    torch.set_num_threads(os.cpu_count())
    if name in ZOO:
        import torchvision
        kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
        m = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
        return lambda x: m(torch.from_numpy(x))
    import ir_reference
    graph = ir_reference.Graph(ir)
    weights = {k: torch.randn(s) * 0.1 for k, s in graph.parameter_shapes().items()}
    return lambda x: graph.run(torch.from_numpy(x), weights)


def timed(fn, x):
    start = time.perf_counter()
    fn(x)
    return time.perf_counter() - start


def alternate(variants, x, runs, pause=0.25):
    """{name: median seconds} with the variants interleaved run by run, each
    run after `pause` seconds of idle cores (0: back to back)."""
    import contextlib
    try:
        import torch
        ctx = torch.no_grad
    except ImportError:
        ctx = contextlib.nullcontext
    times = {name: [] for name in variants}
    with ctx():
        for fn in variants.values():
            fn(x)  # warm-up
        for _ in range(runs):
            for name, fn in variants.items():
                # PyTorch's OpenMP workers spin for ~200 ms after a call
                # (KMP_BLOCKTIME) and would steal the cores from whatever runs
                # next; let every variant start on idle cores.
                if pause:
                    time.sleep(pause)
                times[name].append(timed(fn, x))
    return {name: statistics.median(t) for name, t in times.items()}


def peak_rss_mb(kind, arg, name, shape, batch):
    """Peak RSS growth (MiB) of one inference, in a fresh process."""
    code = f"""
import contextlib, resource, sys, numpy as np
sys.path.insert(0, {os.path.join(ROOT, 'bench')!r}); sys.path.insert(0, {os.path.join(ROOT, 'tests', 'torch')!r})
import bench
ctx = contextlib.nullcontext
if {kind!r} == 'torch':
    import torch; ctx = torch.no_grad
x = np.random.default_rng(0).random(({batch}, *{list(shape)}), dtype=np.float32)
fn = bench.CnncModel({arg!r}, {name!r}) if {kind!r} == 'cnnc' else bench.torch_model({name!r}, open({arg!r}).read())
def status(key):
    return int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1])
open('/proc/self/clear_refs', 'w').write('5')  # resets the peak (VmHWM) to the current RSS
before = status('VmRSS:')
with ctx():
    fn(x); fn(x)
print(status('VmHWM:') - before)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024.0


def input_shape(ir):
    import ir_reference
    return ir_reference.Graph(ir).input_shape


def bench_fusion(args, tmp):
    rows = []
    for model in [os.path.join(ROOT, "bench", "conv_relu_pool.cnn"), os.path.join(ROOT, "examples", "lenet5.cnn")]:
        fused, ir, mflops = compile_model(model, [], tmp)
        unfused, _, _ = compile_model(model, ["--disable-pass=fuse"], tmp)
        import ir_reference
        name, shape = ir_reference.Graph(ir).name, input_shape(ir)
        for batch in args.batches:
            x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
            t = alternate({"fused": CnncModel(fused, name), "unfused": CnncModel(unfused, name)}, x, args.runs)
            mem_f = peak_rss_mb("cnnc", fused, name, shape, batch)
            mem_u = peak_rss_mb("cnnc", unfused, name, shape, batch)
            rows.append({"model": name, "batch": batch, "fused_ms": t["fused"] * 1e3, "unfused_ms": t["unfused"] * 1e3,
                         "ratio": t["fused"] / t["unfused"], "fused_peak_mb": mem_f, "unfused_peak_mb": mem_u})
    print("| model | batch | fused ms | unfused ms | fused/unfused | peak RSS fused MiB | unfused MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['fused_ms']:.3f} | {r['unfused_ms']:.3f} | {r['ratio']:.2f} | "
              f"{r['fused_peak_mb']:.1f} | {r['unfused_peak_mb']:.1f} |")
    return rows


def fma_peak(tmp):
    """GFLOP/s of bench/fma_peak.c on all cores (the machine's FP32 FMA ceiling,
    as of now: on a shared machine it varies by 1.5x over minutes, so each row
    is compared with the peak measured right after it)."""
    exe = os.path.join(tmp, "fma_peak")
    if not os.path.exists(exe):
        subprocess.run(["cc", "-O2", "-mavx2", "-mfma", "-pthread", os.path.join(ROOT, "bench", "fma_peak.c"),
                        "-o", exe], check=True)
    return json.loads(subprocess.run([exe], check=True, capture_output=True, text=True).stdout)["gflops_all"]


def bench_torch(args, tmp):
    rows = []
    extra = {}  # variant name -> cnnc flags, timed alongside
    if args.untuned:
        extra["untuned"] = ["--no-tuning"]
    if args.autoschedule:
        extra[args.autoschedule] = ["--autoschedule=" + args.autoschedule]
    for m in args.models:
        model = os.path.join(ROOT, "examples", m + ".cnn")
        so, ir, mflops = compile_model(model, [], tmp)
        extra_so = {k: compile_model(model, flags, tmp)[0] for k, flags in extra.items()}
        import ir_reference
        name, shape = ir_reference.Graph(ir).name, input_shape(ir)
        ir_path = os.path.join(tmp, name + ".ir")
        open(ir_path, "w").write(ir)
        for batch in args.batches:
            x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
            variants = {"cnnc": CnncModel(so, name), "torch": torch_model(name, ir)}
            variants.update({k: CnncModel(v, name) for k, v in extra_so.items()})
            t = alternate(variants, x, args.runs)
            peak = fma_peak(tmp)
            row = {"model": name, "batch": batch, "cnnc_ms": t["cnnc"] * 1e3, "torch_ms": t["torch"] * 1e3,
                   "ratio": t["cnnc"] / t["torch"], "gflops": mflops * batch / 1e3 / t["cnnc"],
                   "peak_gflops": peak, "peak_fraction": mflops * batch / 1e3 / t["cnnc"] / peak,
                   "cnnc_peak_mb": peak_rss_mb("cnnc", so, name, shape, batch),
                   "torch_peak_mb": peak_rss_mb("torch", ir_path, name, shape, batch)}
            for k in extra:
                row[k + "_ms"] = t[k] * 1e3
            rows.append(row)
    print("FP32 FMA peak (bench/fma_peak.c, all cores) measured right after each row\n")
    head = ["model", "batch", "cnnc ms", "PyTorch ms", "cnnc/PyTorch", "cnnc GFLOP/s", "peak GFLOP/s", "% of peak",
            "peak RSS cnnc MiB", "PyTorch MiB"] + [f"{k} ms ({k}/PyTorch)" for k in extra]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for r in rows:
        cells = [r["model"], str(r["batch"]), f"{r['cnnc_ms']:.2f}", f"{r['torch_ms']:.2f}", f"{r['ratio']:.2f}",
                 f"{r['gflops']:.1f}", f"{r['peak_gflops']:.0f}", f"{100 * r['peak_fraction']:.0f}%", f"{r['cnnc_peak_mb']:.1f}",
                 f"{r['torch_peak_mb']:.1f}"]
        cells += [f"{r[k + '_ms']:.2f} ({r[k + '_ms'] / r['torch_ms']:.2f})" for k in extra]
        print("| " + " | ".join(cells) + " |")
    return rows


def bench_train(args, tmp):
    import torch
    import torch.nn.functional as F
    import ir_reference
    torch.set_num_threads(os.cpu_count())
    batches = {"lenet5": 64, "resnet18": 8}
    rows = []
    for m in args.models:
        model = os.path.join(ROOT, "examples", m + ".cnn")
        so = os.path.join(tmp, m + "-train.so")
        subprocess.run([CNNC, model, "--train", "-o", so, "-q"], check=True)
        ir = subprocess.run([CNNC, model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
        graph = ir_reference.Graph(ir)
        batch = batches.get(m, 8)
        lib = ctypes.CDLL(so)
        f = lambda n: getattr(lib, f"{graph.name}_{n}")
        f("create").restype = ctypes.c_void_p
        f("train_step").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_float)]
        f("set_sgd").argtypes = [ctypes.c_void_p, ctypes.c_float, ctypes.c_float, ctypes.c_float]
        model_ptr = f("create")()
        f("set_sgd")(model_ptr, 0.01, 0.9, 5e-4)
        x = np.random.default_rng(0).random((batch, *graph.input_shape), dtype=np.float32)
        classes = graph.run(torch.zeros([1] + graph.input_shape),
                            {k: torch.zeros(s) for k, s in graph.parameter_shapes().items()}, logits=True).shape[1]
        y = np.random.default_rng(1).integers(0, classes, batch).astype(np.int32)
        loss = ctypes.c_float()

        def cnnc_step(_):
            if f("train_step")(model_ptr, x.ctypes.data, y.ctypes.data, batch, ctypes.byref(loss)) != 0:
                raise RuntimeError("train_step failed")

        params = {k: (torch.randn(s) * 0.05).requires_grad_(not k.endswith(("running_mean", "running_var")))
                  for k, s in graph.parameter_shapes().items()}
        for k, v in params.items():
            if k.endswith("running_var"):
                v.data.fill_(1.0)
        opt = torch.optim.SGD([v for v in params.values() if v.requires_grad], lr=0.01, momentum=0.9,
                              weight_decay=5e-4)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y).long()

        def torch_step(_):
            opt.zero_grad()
            F.cross_entropy(graph.run(tx, params, training=True, logits=True).reshape(batch, -1), ty).backward()
            opt.step()

        times = {"cnnc": [], "torch": []}
        cnnc_step(None), torch_step(None)
        for _ in range(args.runs):
            time.sleep(0.25)  # idle cores for each (see alternate())
            times["cnnc"].append(timed(cnnc_step, None))
            time.sleep(0.25)
            times["torch"].append(timed(torch_step, None))
        t = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"model": graph.name, "batch": batch, "cnnc_ms": t["cnnc"] * 1e3, "torch_ms": t["torch"] * 1e3,
                     "ratio": t["cnnc"] / t["torch"]})
    print("| model | batch | cnnc step ms | PyTorch step ms | cnnc/PyTorch |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['cnnc_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f} |")
    return rows


def cpu_description():
    """'AMD EPYC (family 25, model 1; AVX2, no AVX-512)': the CPU figures were taken on.

    This machine kind has come with different CPUs from session to session, and
    PyTorch's kernels use AVX-512 where there is one (cnnc's inference kernels
    stay at AVX2; its training kernels use AVX-512 on Intel CPUs only, see
    codegen/KernelTarget.cpp), so every table says which it was."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
                if key.strip() == "flags":
                    break
    except OSError:
        return "unknown CPU"
    flags = info.get("flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    return (f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}; {isa})")


def main():
    ap = argparse.ArgumentParser(description="cnnc benchmarks (see the module docstring)")
    ap.add_argument("suite", choices=["fusion", "torch", "train"])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--batches", type=int, nargs="+", default=None)
    ap.add_argument("--models", nargs="+", default=["lenet5", "alexnet", "resnet18", "googlenet", "vgg16"])
    ap.add_argument("--untuned", action="store_true", help="torch suite: also time cnnc without the tuning database")
    ap.add_argument("--autoschedule", choices=["Adams2019", "Li2018", "Mullapudi2016"],
                    help="torch suite: also time cnnc scheduled by this Halide autoscheduler")
    args = ap.parse_args()
    if args.batches is None:
        args.batches = [1, 64] if args.suite == "fusion" else [1, 8]
    if args.suite == "train" and args.models == ap.get_default("models"):
        args.models = ["lenet5", "resnet18"]
    cpu = cpu_description()
    print(f"CPU: {cpu}, {os.cpu_count()} cores\n")
    with tempfile.TemporaryDirectory() as tmp:
        suites = {"fusion": bench_fusion, "torch": bench_torch, "train": bench_train}
        rows = suites[args.suite](args, tmp)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", args.suite + ".json")
    with open(out, "w") as f:
        json.dump({"suite": args.suite, "runs": args.runs, "cores": os.cpu_count(), "cpu": cpu, "rows": rows}, f,
                  indent=1)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
