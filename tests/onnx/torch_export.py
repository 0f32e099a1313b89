#!/usr/bin/env python3
"""Exports a PyTorch network with torch.onnx.export and checks cnnc's import.

    torch_export.py --cnnc build/cnnc --model lenet5|resnet18|alexnet|googlenet|inception_v3
        [--opset 11 13] [--batch 1 3] [--tol 1e-4] [--seed 0] [--eval-export] [--modes]
        [--same-ir-as examples/resnet18.cnn] [--fixed-batch 2]

For each opset: exports the network (random weights and batchnorm statistics,
eval mode, dynamic batch), checks that `cnnc --summary` reports the network's
trainable parameter count (torchvision's published one for zoo models), that
`--emit=cnn` compiles back to the same IR, compiles it with `cnnc -o`, loads
the weights cnnc wrote beside the library, and compares outputs with PyTorch's:
max |cnnc - torch| / max |torch| <= tol at each batch size. --eval-export
exports as PyTorch does by default (TrainingMode.EVAL: batchnorm folded into
the convolutions, under generated names), where the count is not compared.
--same-ir-as checks that the import's IR is the .cnn file's, byte for byte
(with the .cnn network's name). --fixed-batch N exports with that batch instead of a
dynamic one: --summary and the header say so, the library matches PyTorch at
batch N and refuses N - 1 and N + 1 with a message. --modes also runs the driver's other modes on the export (--emit=header and
dot, --print-after-all, --train) and checks --name reaches the header (`cnnc
tune` on an import is left out: it compiles every candidate, minutes here).

Exit 0: all good; 1: a mismatch or failure; 77: torch/torchvision/onnx missing.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "torch"))

try:
    import numpy as np
    import torch
    import torchvision
    import onnx  # noqa: F401  (torch.onnx.export needs it)
except ImportError as e:
    print(f"SKIP: PyTorch/torchvision/onnx not available ({e}); run with /usr/bin/python3")
    sys.exit(77)

from conformance import load_model as load_library, randomized


class LeNet5(torch.nn.Module):
    """LeNet-5 as examples/lenet5.cnn: 1x28x28 -> 10 class probabilities."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                        nn.Linear(84, 10))

    def forward(self, x):
        # view(size(0), -1): older exports' Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain.
        x = self.features(x)
        return torch.softmax(self.classifier(x.view(x.size(0), -1)), 1)


class EveryOp(torch.nn.Module):
    """One of each op the importer maps that PyTorch exports as one ONNX op
    (LocalResponseNorm it decomposes; ONNX's LRN is in the node tests)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.pad = nn.ZeroPad2d(1)
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(8)
        self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, bias=False)
        self.branch = nn.Conv2d(8, 4, 1)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.fc = nn.Linear(12, 16)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        F = torch.nn.functional
        x = torch.relu(self.bn1(self.conv1(self.pad(x))))
        y = F.leaky_relu(self.grouped(x), 0.2)
        x = torch.tanh(self.avg(torch.cat([F.relu6(x + y), torch.sigmoid(self.branch(x))], 1)))
        x = torch.flatten(F.adaptive_max_pool2d(x, 1) + F.adaptive_avg_pool2d(x, 1), 1)
        return self.head(self.drop(torch.clamp(self.fc(x), min=0.0)))


class AsymmetricPad(torch.nn.Module):
    """Padding whose begin and end differ, as exporters write it: a zero Pad
    before a conv (the conv keeps the symmetric part, a pad op the rest), a
    constant Pad of another value, and a zero Pad before a max pool (the
    zeros are values the max sees)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 2)
        self.fc = nn.Linear(120, 10)

    def forward(self, x):
        F = torch.nn.functional
        x = torch.relu(self.conv1(F.pad(x, (0, 1, 0, 1))))               # pads [1, 1, 2, 2]: [6, 8, 8]
        x = torch.tanh(self.conv2(F.pad(x, (1, 0, 2, 0), value=-0.5)))   # [6, 9, 8]
        x = F.max_pool2d(F.pad(x, (1, 0, 0, 1)), 2)                      # [6, 5, 4]
        return torch.softmax(self.fc(torch.flatten(x, 1)), 1)


# Input shapes and trainable-parameter counts (torchvision's published ones;
# GoogLeNet and Inception-v3 without their auxiliary heads, which eval mode drops).
MODELS = {
    "lenet5": dict(build=LeNet5, shape=[1, 28, 28], params=61_706),
    "every_op": dict(build=EveryOp, shape=[3, 15, 15], params=713),
    "asymmetric_pad": dict(build=AsymmetricPad, shape=[3, 15, 15], params=1528),
    "alexnet": dict(build=lambda: torchvision.models.alexnet(weights=None), shape=[3, 224, 224], params=61_100_840),
    "resnet18": dict(build=lambda: torchvision.models.resnet18(weights=None), shape=[3, 224, 224], params=11_689_512),
    "googlenet": dict(build=lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False,
                                                                 transform_input=False),
                      shape=[3, 224, 224], params=6_624_904),
    "inception_v3": dict(build=lambda: torchvision.models.inception_v3(weights=None, aux_logits=False,
                                                                       init_weights=False, transform_input=False),
                         shape=[3, 299, 299], params=23_834_568),
}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def check(args, spec, model, opset, tmp):
    path = os.path.join(tmp, f"{args.model}_op{opset}.onnx")
    # PRESERVE keeps BatchNormalization nodes (EVAL folds them into the
    # convolutions under anonymous names), so parameters keep PyTorch's names.
    mode = torch.onnx.TrainingMode.EVAL if args.eval_export else torch.onnx.TrainingMode.PRESERVE
    fixed = args.fixed_batch
    torch.onnx.export(model, torch.zeros([fixed or 1] + spec["shape"]), path, opset_version=opset,
                      input_names=["image"], output_names=["output"],
                      dynamic_axes=None if fixed else {"image": {0: "N"}, "output": {0: "N"}}, training=mode)
    ok = True
    summary = run([args.cnnc, path, "--summary"])
    if fixed:
        shown = f"batch: fixed at {fixed}" in summary and f"batch must be {fixed}" in run(
            [args.cnnc, path, "--emit=header"])
        print(f"{args.model} opset {opset}: --summary and the header show the fixed batch {fixed}: {shown}")
        ok &= shown
    m = re.search(r"total parameters: ([\d,]+)", summary)
    count = int(m.group(1).replace(",", "")) if m else -1
    trainable = sum(p.numel() for p in model.parameters())
    print(f"{args.model} opset {opset}: --summary counts {count:,} parameters "
          f"(PyTorch {trainable:,}, published {spec['params']:,})")
    ok &= args.eval_export or count == spec["params"] == trainable

    cnn = os.path.join(tmp, "roundtrip.cnn")
    with open(cnn, "w") as f:
        f.write(run([args.cnnc, path, "--emit=cnn"]))
    same = run([args.cnnc, cnn, "--emit=ir"]) == run([args.cnnc, path, "--emit=ir"])
    print(f"{args.model} opset {opset}: --emit=cnn compiles back to the same IR: {same}")
    ok &= same

    if args.same_ir_as:
        expected = run([args.cnnc, args.same_ir_as, "--emit=ir"])
        cnn_name = re.match(r"network (\w+)\(", expected).group(1)
        same = run([args.cnnc, path, "--emit=ir", f"--name={cnn_name}"]) == expected
        print(f"{args.model} opset {opset}: the IR of {os.path.basename(args.same_ir_as)}: {same}")
        ok &= same

    name = f"{args.model}_op{opset}"
    so = os.path.join(tmp, name + ".so")
    run([args.cnnc, path, "-o", so, "-q", f"--name={name}"])
    lib, f = load_library(so, name)
    handle = f("create")()  # with the model's weights, compiled in
    if not handle:
        print("create failed:", f("last_error")().decode())
        return False
    gen = torch.Generator().manual_seed(args.seed + opset)
    for batch in [fixed] if fixed else args.batch:
        x = torch.randn([batch] + spec["shape"], generator=gen)
        with torch.no_grad():
            ref = model(x).reshape(batch, -1).numpy()
        if f("output_size")() != ref.shape[1]:
            print(f"{args.model} opset {opset}: cnnc's output has {f('output_size')()} values a sample, "
                  f"PyTorch's {ref.shape[1]}")
            return False
        out = np.zeros(ref.shape, np.float32)
        xin = np.ascontiguousarray(x.numpy(), np.float32)
        if f("infer")(handle, xin.ctypes.data, batch, out.ctypes.data) != 0:
            print("infer failed:", f("last_error")().decode())
            return False
        scale = float(np.abs(ref).max())
        err = float(np.abs(out - ref).max()) / scale
        print(f"{args.model} opset {opset} batch {batch}: max |cnnc - torch| / max |torch| = {err:.3e} (tol {args.tol:g})")
        ok &= err <= args.tol
    # A fixed batch is the only one the library takes: other sizes are an
    # error through last_error, and the output is left alone.
    for batch in [b for b in (fixed - 1, fixed + 1) if fixed and b >= 1]:
        xin = np.zeros([batch] + spec["shape"], np.float32)
        out = np.full((batch, f("output_size")()), 7.0, np.float32)
        rc = f("infer")(handle, xin.ctypes.data, batch, out.ctypes.data)
        message = f("last_error")().decode()
        refused = rc != 0 and f"takes batches of exactly {fixed}" in message and (out == 7.0).all()
        print(f"{args.model} opset {opset} batch {batch}: refused ({message!r}): {refused}")
        ok &= refused
    f("destroy")(handle)
    return ok


def check_modes(args, path, tmp):
    name = "imported_net"
    header = run([args.cnnc, path, "--emit=header", f"--name={name}"])
    ok = f"int  {name}_load_weights(" in header
    ok &= run([args.cnnc, path, "--emit=dot"]).startswith("digraph")
    r = subprocess.run([args.cnnc, path, "--emit=header", "--print-after-all"], capture_output=True, text=True)
    ok &= r.returncode == 0 and "IR Dump After" in r.stderr
    so = os.path.join(tmp, "train.so")
    run([args.cnnc, path, "--train", "-o", so, "-q", f"--name={name}"])
    lib, f = load_library(so, name)
    ok &= hasattr(lib, f"{name}_train_step")
    print(f"{args.model}: --emit=header/dot, --print-after-all, --train, --name: {'ok' if ok else 'FAILED'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--opset", type=int, nargs="+", default=[11, 13])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-export", action="store_true", help="export with TrainingMode.EVAL (batchnorm folded)")
    ap.add_argument("--modes", action="store_true", help="also run the driver's other modes on the export")
    ap.add_argument("--same-ir-as", help="a .cnn file whose IR the import must equal")
    ap.add_argument("--fixed-batch", type=int, default=0, metavar="N",
                    help="export with the fixed batch N (N >= 2): infer at N matches, N - 1 and N + 1 are refused")
    args = ap.parse_args()
    spec = MODELS[args.model]
    model = randomized(spec["build"](), args.seed)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for opset in args.opset:
            ok &= check(args, spec, model, opset, tmp)
        if args.modes:
            ok &= check_modes(args, os.path.join(tmp, f"{args.model}_op{args.opset[-1]}.onnx"), tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
