#!/usr/bin/env python3
"""cnnc's benchmark harness: cnnc against itself (fusion), ONNX Runtime and PyTorch.

    bench/bench.py fusion [--runs 7]          fused vs --disable-pass=fuse: conv stack, LeNet-5
    bench/bench.py torch  [--models lenet5 alexnet ...] [--batches 1 8]
                          [--untuned] [--autoschedule Adams2019] [--no-ort]
                          [--baseline OTHER/build/cnnc]
                                              cnnc vs ONNX Runtime 1.30 (CPU) and PyTorch 1.13
                                              (same run, alternating); optionally also cnnc
                                              with default schedules (--no-tuning) and with
                                              Halide's autoscheduler
    bench/bench.py train  [--models lenet5 resnet18]
                                              one SGD training step (LeNet-5 batch 64,
                                              ResNet-18 and Inception-v3 batch 8) vs PyTorch

Each figure is the median of --runs timed runs after a warm-up; the variants
are timed alternately inside one process so machine noise hits all alike.
Peak memory is measured in a fresh process per variant: the growth of peak RSS
from a loaded model (weights in memory) to after two inferences, i.e. the
memory inference itself needs (activations, workspaces). Results go to bench/results/*.json
and a Markdown table on stdout (the README's tables are pasted from it).

The torch suite runs one set of random weights in all three: the PyTorch twin
of each model (torchvision's network for the zoo, ir_reference's graph of the
.cnn file otherwise) is written as safetensors for cnnc's <name>_load_weights
and exported to ONNX for ONNX Runtime, and each batch first checks that the
outputs agree. ONNX Runtime runs in a node process (bench/ort_runner.js, the
npm package onnxruntime-node that scripts/setup_bench.sh installs into
bench/.ort/); --no-ort leaves it out.

Use Debian's /usr/bin/python3 (it has python3-torch). bench/ab.py compares two
tuning databases on one model, alternating in one process.
"""

import argparse
import ctypes
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "torch"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import numpy as np  # noqa: E402

CNNC = os.environ.get("CNNC", os.path.join(ROOT, "build", "cnnc"))
# The zoo's PyTorch twins: torchvision constructors' keyword arguments, by network name.
ZOO = {
    "alexnet": {},
    "vgg16": {},
    "resnet18": {},
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "transform_input": False, "init_weights": False},
}
ORT_DIR = os.path.join(ROOT, "bench", ".ort")
# Outputs agree when max |output - PyTorch's| / max |PyTorch's| is below this.
AGREEMENT_TOL = 1e-3


def example(model):
    """examples/<model>.cnn, or None (saying so) where the file is missing."""
    path = os.path.join(ROOT, "examples", model + ".cnn")
    if os.path.exists(path):
        return path
    print(f"skipping {model}: {os.path.relpath(path, ROOT)} does not exist")
    return None


def compile_model(model, flags, outdir, cnnc=CNNC):
    tag = str(abs(hash((cnnc, *flags))))
    so = os.path.join(outdir, os.path.basename(model).replace(".cnn", "") + "-" + tag + ".so")
    subprocess.run([cnnc, model, "-o", so, "-q"] + flags, check=True)
    ir = subprocess.run([cnnc, model, "--emit=ir"], check=True, capture_output=True, text=True).stdout
    pass_flags = [f for f in flags if f.startswith(("-O", "--passes=", "--disable-pass="))]  # what --summary takes
    summary = subprocess.run([cnnc, model, "--summary"] + pass_flags, check=True, capture_output=True,
                             text=True).stdout
    mflops = float(next(l for l in summary.splitlines() if l.startswith("forward MFLOPs")).split(":")[1])
    return so, ir, mflops


class CnncModel:
    """A model compiled by cnnc, called through ctypes; `weights`: a safetensors
    file to load (else the library's own initial weights)."""

    def __init__(self, so, name, weights=None):
        self.lib = ctypes.CDLL(so)
        f = lambda n: getattr(self.lib, f"{name}_{n}")
        f("create").restype = ctypes.c_void_p
        f("infer").argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        f("output_size").restype = ctypes.c_int
        f("load_weights").argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        f("last_error").restype = ctypes.c_char_p
        self.last_error = f("last_error")
        self.model = f("create")()
        self.infer_fn, self.out_size = f("infer"), f("output_size")()
        if weights and f("load_weights")(self.model, weights.encode()) != 0:
            raise RuntimeError(f"{name}_load_weights({weights}): {f('last_error')().decode()}")

    def __call__(self, x):
        out = np.empty((x.shape[0], self.out_size), np.float32)
        if self.infer_fn(self.model, x.ctypes.data, x.shape[0], out.ctypes.data) != 0:
            raise RuntimeError(f"infer failed: {self.last_error().decode()}")
        return out


def torch_twin(ir, seed=0):
    """The PyTorch twin of the network in `ir` (cnnc --emit=ir), in eval mode,
    with random weights: torchvision's network for the zoo (its parameter names
    are the .cnn file's), batchnorm statistics randomized too so that checking
    the outputs covers them; otherwise ir_reference's graph of the IR itself."""
    import torch
    import ir_reference
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(seed)
    graph = ir_reference.Graph(ir)
    if graph.name not in ZOO:
        params = {k: torch.rand(shape) + 0.5 if k.endswith("running_var") else torch.randn(shape) * 0.1
                  for k, shape in graph.parameter_shapes().items()}
        return ir_reference.Module(graph, params).eval()
    import torchvision
    model = getattr(torchvision.models, graph.name)(weights=None, **ZOO[graph.name]).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5), m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1), m.running_var.uniform_(0.5, 1.5)
    return model


def timed(fn, x):
    """Seconds of one call fn(x), measured here; a variant that times itself
    (OrtModel: inside its node process) reports its own."""
    if hasattr(fn, "timed"):
        return fn.timed(x)
    start = time.perf_counter()
    fn(x)
    return time.perf_counter() - start


def ort_installed():
    """Whether node and scripts/setup_bench.sh's onnxruntime-node are there."""
    return shutil.which("node") is not None and os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node"))


def export_onnx(twin, shape, path):
    """torch.onnx.export of the twin (eval mode), batch size left dynamic."""
    import torch
    with torch.no_grad():
        torch.onnx.export(twin, torch.zeros(2, *shape), path, opset_version=13, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


class OrtModel:
    """An ONNX model in ONNX Runtime's CPU provider (all cores, every graph
    optimization), run by bench/ort_runner.js in a node child process.

    Timed (`timed(x)`): node's process.hrtime.bigint() around `await
    session.run(feeds)` alone, as ONNX Runtime's own API offers it, output
    tensors and the call's overhead included, like cnnc's ctypes call timed in
    Python around `infer`. Not timed: passing x to node (a float32 file, read
    into a tensor once per new x), the request and reply over the pipe.
    Calling the model (`model(x)`) returns the output, written back to a file."""

    def __init__(self, onnx_path, tmp):
        self.proc = subprocess.Popen(["node", os.path.join(ROOT, "bench", "ort_runner.js")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.tmp, self.x = tmp, None
        self.request(cmd="load", model=onnx_path, threads=os.cpu_count())

    def request(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench/ort_runner.js exited (status {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"bench/ort_runner.js {req['cmd']}: {reply['error']}")
        return reply

    def feed(self, x):
        if self.x is not x:
            path = os.path.join(self.tmp, "ort-input.f32")
            x.tofile(path)
            self.request(cmd="input", path=path, shape=list(x.shape))
            self.x = x

    def timed(self, x):
        self.feed(x)
        return self.request(cmd="run")["seconds"]

    def __call__(self, x):
        self.feed(x)
        path = os.path.join(self.tmp, "ort-output.f32")
        self.request(cmd="run", output=path)
        return np.fromfile(path, np.float32).reshape(x.shape[0], -1)

    def peak_rss_mb(self, x):
        """The peak RSS growth (MiB) of two runs on x from the loaded session;
        meaningful in a fresh OrtModel (see peak_rss_mb())."""
        self.feed(x)
        return self.request(cmd="peak_rss")["kib"] / 1024.0

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


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
                # (KMP_BLOCKTIME), ONNX Runtime's pool for a while too, and
                # would steal the cores from whatever runs next; let every
                # variant start on idle cores.
                if pause:
                    time.sleep(pause)
                times[name].append(timed(fn, x))
    return {name: statistics.median(t) for name, t in times.items()}


def peak_rss_mb(kind, arg, name, shape, batch):
    """Peak RSS growth (MiB) of two inferences from a loaded model, in a fresh
    process: kind 'cnnc' (arg: the library), 'torch' (arg: a file with the IR)
    or 'ort' (arg: the ONNX file; a fresh node process running it).

    Growth only: heap memory that loading freed and inference reuses does not
    count. ONNX Runtime frees the model file's bytes after building its session,
    and at batch 1 its activations fit there (ResNet-18: 0.7 MiB of growth; 7.8
    with glibc's mmap threshold fixed at 128 KiB, MALLOC_MMAP_THRESHOLD_=131072,
    which leaves cnnc's figures as they are and lowers PyTorch's)."""
    if kind == "ort":
        with tempfile.TemporaryDirectory() as tmp:
            model = OrtModel(arg, tmp)
            try:
                return model.peak_rss_mb(np.random.default_rng(0).random((batch, *shape), dtype=np.float32))
            finally:
                model.close()
    code = f"""
import contextlib, resource, sys, numpy as np
sys.path.insert(0, {os.path.join(ROOT, 'bench')!r}); sys.path.insert(0, {os.path.join(ROOT, 'tests', 'torch')!r})
import bench
ctx = contextlib.nullcontext
if {kind!r} == 'torch':
    import torch; ctx = torch.no_grad
x = np.random.default_rng(0).random(({batch}, *{list(shape)}), dtype=np.float32)
if {kind!r} == 'cnnc':
    fn = bench.CnncModel({arg!r}, {name!r})
else:
    twin = bench.torch_twin(open({arg!r}).read())
    fn = lambda x: twin(torch.from_numpy(x))
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


def kernel_bits():
    """512 where cnnc builds wide (AVX-512) kernels on this machine, else 256."""
    out = subprocess.run([CNNC, "--print-target"], check=True, capture_output=True, text=True).stdout
    wide = next((l for l in out.splitlines() if l.startswith("wide kernels:")), "")
    return 512 if "avx512" in wide else 256


def fma_peaks(tmp):
    """{bits: GFLOP/s} of bench/fma_peak.c on all cores with 256-bit FMAs, and
    with 512-bit ones where the CPU has AVX-512F: the machine's FP32 FMA
    ceiling as of now (on a shared machine it varies by 1.5x over minutes, so
    each row is compared with the peak measured right after it)."""
    isas = {256: ["-mavx2", "-mfma"]}
    if "avx512f" in cpu_info().get("flags", "").split():
        isas[512] = ["-mavx512f", "-mfma"]
    peaks = {}
    for bits, flags in isas.items():
        exe = os.path.join(tmp, f"fma_peak{bits}")
        if not os.path.exists(exe):
            subprocess.run(["cc", "-O2", *flags, "-pthread", os.path.join(ROOT, "bench", "fma_peak.c"), "-o", exe],
                           check=True)
        peaks[bits] = json.loads(subprocess.run([exe], check=True, capture_output=True, text=True).stdout)["gflops_all"]
    return peaks


def disagreement(variants, x):
    """{variant: max |its output - PyTorch's| / max |PyTorch's|} on x, for
    every variant but PyTorch's ("torch")."""
    import torch
    with torch.no_grad():
        ref = variants["torch"](x).reshape(x.shape[0], -1).numpy()
    scale = max(float(np.abs(ref).max()), 1e-30)
    return {k: float(np.abs(np.asarray(fn(x)).reshape(ref.shape) - ref).max()) / scale
            for k, fn in variants.items() if k != "torch"}


def bench_torch(args, tmp):
    """cnnc, ONNX Runtime and PyTorch on one set of weights per model: the
    same outputs (checked per batch), then their times alternately."""
    import torch
    import ir_reference
    import torch_to_safetensors
    rows = []
    extra = {}  # variant name -> cnnc flags, timed alongside
    if args.untuned:
        extra["untuned"] = ["--no-tuning"]
    if args.autoschedule:
        extra[args.autoschedule] = ["--autoschedule=" + args.autoschedule]
    if args.baseline:
        extra["baseline"] = []
    for model in filter(None, map(example, args.models)):
        so, ir, mflops = compile_model(model, [], tmp)
        extra_so = {k: compile_model(model, flags, tmp)[0] for k, flags in extra.items() if k != "baseline"}
        if args.baseline:
            extra_so["baseline"] = compile_model(model, [], tmp, args.baseline)[0]
        name, shape = ir_reference.Graph(ir).name, input_shape(ir)
        ir_path, weights, onnx = (os.path.join(tmp, name + ext) for ext in (".ir", ".safetensors", ".onnx"))
        open(ir_path, "w").write(ir)
        twin = torch_twin(ir)
        torch_to_safetensors.save_module(twin, weights)
        variants = {"cnnc": CnncModel(so, name, weights), "torch": lambda x: twin(torch.from_numpy(x))}
        if args.ort:
            export_onnx(twin, shape, onnx)
            variants["ort"] = OrtModel(onnx, tmp)
        variants.update({k: CnncModel(v, name, weights) for k, v in extra_so.items()})
        for batch in args.batches:
            x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
            errors = disagreement(variants, x)
            print(f"{name} batch {batch}: max |output - PyTorch's| / max |PyTorch's|: " +
                  ", ".join(f"{k} {e:.1e}" for k, e in errors.items()))
            for k, e in errors.items():
                if not e < AGREEMENT_TOL:
                    print(f"WARNING: {name} batch {batch}: {k}'s output differs from PyTorch's by {e:.1e} "
                          f"of its largest value (tolerance {AGREEMENT_TOL:g})")
            t = alternate(variants, x, args.runs)
            peaks = fma_peaks(tmp)
            gflops = mflops * batch / 1e3 / t["cnnc"]
            row = {"model": name, "batch": batch, "cnnc_ms": t["cnnc"] * 1e3, "torch_ms": t["torch"] * 1e3,
                   "ratio": t["cnnc"] / t["torch"], "gflops": gflops, "peak_gflops": peaks[256],
                   "peak_gflops_512": peaks.get(512), "peak_fraction": gflops / peaks[kernel_bits()],
                   "max_rel_diff": errors, "cnnc_peak_mb": peak_rss_mb("cnnc", so, name, shape, batch),
                   "torch_peak_mb": peak_rss_mb("torch", ir_path, name, shape, batch)}
            if args.ort:
                row.update({"ort_ms": t["ort"] * 1e3, "ort_ratio": t["cnnc"] / t["ort"],
                            "ort_peak_mb": peak_rss_mb("ort", onnx, name, shape, batch)})
            row.update({k + "_ms": t[k] * 1e3 for k in extra})
            rows.append(row)
        if args.ort:
            variants["ort"].close()
    print_torch_table(rows, extra, args.ort)
    return rows


def print_torch_table(rows, extra, ort):
    """The torch suite's Markdown table; ratios below 1 are cnnc's wins."""
    if rows:
        p256 = statistics.median(r["peak_gflops"] for r in rows)
        p512 = rows[0]["peak_gflops_512"] and statistics.median(r["peak_gflops_512"] for r in rows)
        print(f"\nFMA peak: {p256:.0f} GFLOP/s at 256 bits, " + (f"{p512:.0f} at 512 bits" if p512 else "no AVX-512") +
              " (bench/fma_peak.c, all cores, medians of the measurements right after each row; "
              f"% of FMA peak: of the {kernel_bits()}-bit one after the row, the widest vectors cnnc's kernels use "
              "here, `cnnc --print-target`)\n")
    columns = [("model", lambda r: r["model"]), ("batch", lambda r: str(r["batch"])),
               ("cnnc ms", lambda r: f"{r['cnnc_ms']:.2f}")]
    if ort:
        columns += [("ONNX Runtime ms", lambda r: f"{r['ort_ms']:.2f}"), ("cnnc/ORT", lambda r: f"{r['ort_ratio']:.2f}")]
    columns += [("PyTorch ms", lambda r: f"{r['torch_ms']:.2f}"), ("cnnc/PyTorch", lambda r: f"{r['ratio']:.2f}"),
                ("cnnc GFLOP/s", lambda r: f"{r['gflops']:.1f}"),
                ("% of FMA peak", lambda r: f"{100 * r['peak_fraction']:.0f}%"),
                ("peak RSS cnnc MiB", lambda r: f"{r['cnnc_peak_mb']:.1f}")]
    if ort:
        columns.append(("ORT MiB", lambda r: f"{r['ort_peak_mb']:.1f}"))
    columns.append(("PyTorch MiB", lambda r: f"{r['torch_peak_mb']:.1f}"))
    for k in extra:
        if ort:
            columns.append((f"{k} ms ({k}/ORT, {k}/PyTorch)", lambda r, k=k: f"{r[k + '_ms']:.2f} "
                            f"({r[k + '_ms'] / r['ort_ms']:.2f}, {r[k + '_ms'] / r['torch_ms']:.2f})"))
        else:
            columns.append((f"{k} ms ({k}/PyTorch)",
                            lambda r, k=k: f"{r[k + '_ms']:.2f} ({r[k + '_ms'] / r['torch_ms']:.2f})"))
    print("| " + " | ".join(head for head, _ in columns) + " |")
    print("|---|" + "---:|" * (len(columns) - 1))
    for r in rows:
        print("| " + " | ".join(cell(r) for _, cell in columns) + " |")


def bench_train(args, tmp):
    import torch
    import torch.nn.functional as F
    import ir_reference
    torch.set_num_threads(os.cpu_count())
    batches = {"lenet5": 64, "resnet18": 8, "inception_v3": 8}
    rows = []
    for m in args.models:
        model = example(m)
        if model is None:
            continue
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
            # The loss cnnc trains: every head's (aux heads too), weighted.
            heads = graph.training_heads(tx, params, random_dropout=True)
            sum(w * F.cross_entropy(logits.reshape(batch, -1), ty) for w, logits in heads).backward()
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


def cpu_info():
    """/proc/cpuinfo's fields for the first CPU ('model name', 'flags', ...); {} where unreadable."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
                if key.strip() == "flags":
                    break
    except OSError:
        pass
    return info


def cpu_description():
    """'AMD EPYC (family 25, model 1; AVX2, no AVX-512)': the CPU figures were taken on.

    The same machine name may stand for different CPUs, and PyTorch's and ONNX
    Runtime's kernels use AVX-512 where there is one (cnnc's
    where 512-bit FMAs are measured worth it, `cnnc --print-target`), so every
    table says which it was."""
    info = cpu_info()
    if not info:
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
    ap.add_argument("--models", nargs="+",
                    default=["lenet5", "alexnet", "resnet18", "googlenet", "inception_v3", "vgg16"])
    ap.add_argument("--baseline", metavar="CNNC",
                    help="torch suite: also time the library another cnnc build (e.g. main's) makes, as 'baseline'")
    ap.add_argument("--untuned", action="store_true", help="torch suite: also time cnnc without the tuning database")
    ap.add_argument("--autoschedule", choices=["Adams2019", "Li2018", "Mullapudi2016"],
                    help="torch suite: also time cnnc scheduled by this Halide autoscheduler")
    ap.add_argument("--no-ort", dest="ort", action="store_false",
                    help="torch suite: leave ONNX Runtime out (scripts/setup_bench.sh installs it)")
    args = ap.parse_args()
    if args.suite == "torch" and args.ort and not ort_installed():
        ap.error(f"ONNX Runtime (npm package onnxruntime-node, run by node) not found in "
                 f"{os.path.relpath(ORT_DIR, ROOT)}/: install it with scripts/setup_bench.sh, or pass --no-ort")
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
