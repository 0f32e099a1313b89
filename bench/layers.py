#!/usr/bin/env python3
"""One conv layer at a time: cnnc's schedules against ONNX Runtime.

    /usr/bin/python3 bench/layers.py [--layers incv3_17x17_1x7 resnet_7x7 ...]
        [--schedules default fblock=4,ptile=6 ...] [--batches 1 8] [--runs 15]
        [--baseline OTHER/build/cnnc]

Each layer is a network of one conv + relu (the zoo's shapes: ResNet-18,
GoogLeNet, Inception-v3). cnnc compiles it once per schedule (`default`: no
tuning database; any other: --schedule=KNOBS, skipped where the knobs are not
a candidate of that conv), ONNX Runtime runs the same weights; all are timed
alternately and the medians printed with GFLOP/s, the share of the FMA peak at
the width cnnc's kernels use, and cnnc/ORT. Shows which kernels limit a model
and which schedule closes the gap, without compiling whole models.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import bench  # noqa: E402

# name: (input C, H, W, filters, kernel (h, w), stride, pad (h, w)[, "maxpool(2)": a fused pool])
LAYERS = {
    "vgg_224x224_c3": (3, 224, 224, 64, (3, 3), 1, (1, 1)),
    "incv3_299x299_c3_s2": (3, 299, 299, 32, (3, 3), 2, (0, 0)),
    "resnet_conv1_pool": (3, 224, 224, 64, (7, 7), 2, (3, 3), "maxpool(3, stride=2, pad=1)"),
    "vgg_112x112": (64, 112, 112, 128, (3, 3), 1, (1, 1)),
    "incv3_147x147": (32, 147, 147, 64, (3, 3), 1, (1, 1)),
    "resnet_56x56": (64, 56, 56, 64, (3, 3), 1, (1, 1)),
    "resnet_28x28": (128, 28, 28, 128, (3, 3), 1, (1, 1)),
    "resnet_14x14": (256, 14, 14, 256, (3, 3), 1, (1, 1)),
    "resnet_7x7": (512, 7, 7, 512, (3, 3), 1, (1, 1)),
    "resnet_s2_14x14": (128, 28, 28, 256, (3, 3), 2, (1, 1)),
    "googlenet_56x56_1x1": (64, 56, 56, 64, (1, 1), 1, (0, 0)),
    "googlenet_28x28_1x1": (256, 28, 28, 128, (1, 1), 1, (0, 0)),
    "googlenet_14x14_1x1": (512, 14, 14, 192, (1, 1), 1, (0, 0)),
    "incv3_35x35_3x3": (64, 35, 35, 96, (3, 3), 1, (1, 1)),
    "incv3_35x35_1x1": (288, 35, 35, 64, (1, 1), 1, (0, 0)),
    "incv3_17x17_1x1": (768, 17, 17, 192, (1, 1), 1, (0, 0)),
    "incv3_17x17_1x7": (160, 17, 17, 160, (1, 7), 1, (0, 3)),
    "incv3_17x17_7x1": (160, 17, 17, 192, (7, 1), 1, (3, 0)),
    "incv3_8x8_3x3": (448, 8, 8, 384, (3, 3), 1, (1, 1)),
    "incv3_8x8_1x3": (384, 8, 8, 384, (1, 3), 1, (0, 1)),
    "incv3_71x71_3x3": (80, 73, 73, 192, (3, 3), 1, (0, 0)),
    "vgg_112x112_pool": (128, 112, 112, 128, (3, 3), 1, (1, 1), "maxpool(2)"),
    "vgg_56x56_pool": (256, 56, 56, 256, (3, 3), 1, (1, 1), "maxpool(2)"),
    "vgg_28x28_pool": (512, 28, 28, 512, (3, 3), 1, (1, 1), "maxpool(2)"),
    "googlenet_56x56_pool": (64, 56, 56, 192, (3, 3), 1, (1, 1), "maxpool(3, stride=2, ceil=true)"),
}


def layer_source(name, spec):
    c, h, w, f, (kh, kw), stride, (ph, pw) = spec[:7]
    pool = "".join(f" -> {p}" for p in spec[7:])
    return (f"network {name}(image: [{c}, {h}, {w}]) {{\n"
            f"    return image -> conv({f}, [{kh}, {kw}], stride={stride}, pad=[{ph}, {pw}]) -> relu{pool}\n}}\n")


def main():
    p = argparse.ArgumentParser(description="conv layers: cnnc schedules against ONNX Runtime (see the docstring)")
    p.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    p.add_argument("--schedules", nargs="+", default=["default"])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--no-ort", dest="ort", action="store_false")
    p.add_argument("--baseline", metavar="CNNC", help="also time another cnnc build's defaults (e.g. main's), as 'baseline'")
    args = p.parse_args()
    import torch
    import ir_reference
    import torch_to_safetensors
    bits = bench.kernel_bits()
    with tempfile.TemporaryDirectory() as tmp:
        peak = bench.fma_peaks(tmp)[bits]
        print(f"{bench.cpu_description()}; cnnc kernels {bits}-bit, FMA peak {peak:.0f} GFLOP/s")
        for name in args.layers:
            path = os.path.join(tmp, name + ".cnn")
            open(path, "w").write(layer_source(name, LAYERS[name]))
            variants, mflops, ir = {}, None, None
            builds = [(sched, bench.CNNC) for sched in args.schedules]
            if args.baseline:
                builds.insert(0, ("baseline", args.baseline))
            for sched, cnnc in builds:
                flags = ["--schedule=" + sched] if sched not in ("default", "baseline") else ["--no-tuning"]
                try:
                    so, ir, mflops = bench.compile_model(path, flags, tmp, cnnc)
                except Exception:
                    print(f"{name}: schedule {sched} does not apply")
                    continue
                variants[sched] = so
            if not variants:
                continue
            twin = bench.torch_twin(ir)
            weights = os.path.join(tmp, name + ".safetensors")
            torch_to_safetensors.save_module(twin, weights)
            models = {k: bench.CnncModel(so, name, weights) for k, so in variants.items()}
            shape = bench.input_shape(ir)
            if args.ort:
                onnx = os.path.join(tmp, name + ".onnx")
                bench.export_onnx(twin, shape, onnx)
                models["ort"] = bench.OrtModel(onnx, tmp)
            for batch in args.batches:
                x = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
                want = twin(torch.from_numpy(x)).detach().numpy().reshape(batch, -1)
                for k, m in models.items():
                    err = np.abs(m(x) - want).max() / np.abs(want).max()
                    if not err < bench.AGREEMENT_TOL:
                        print(f"WARNING: {name} {k} batch {batch} differs from PyTorch by {err:.1e}")
                t = bench.alternate(models, x, args.runs, pause=0.05)
                for k, s in t.items():
                    gflops = mflops * batch / 1e3 / s
                    ratio = f"  cnnc/ORT {s / t['ort']:.2f}" if "ort" in t and k != "ort" else ""
                    print(f"{name:22s} b{batch} {k:28s} {s * 1e3:8.3f} ms {gflops:6.0f} GFLOP/s "
                          f"{100 * gflops / peak:4.0f}%{ratio}", flush=True)
            if "ort" in models:
                models["ort"].close()


if __name__ == "__main__":
    main()
