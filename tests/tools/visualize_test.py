#!/usr/bin/env python3
"""`cnnrt visualize` on a real library (examples/lenet5.cnn compiled with --train):
the PNGs read back equal references computed here with numpy from the
library's own weights and layer values, and bad requests get one clear error.

    visualize_test.py --cnnc build/cnnc --cnnrt build/cnnrt

- --filters: every tile pixel is the weight normalised to its filter's min..max.
- --activations: every feature-map tile is the layer's map normalised to its own min..max.
- --saliency: the heat panel is max over channels of |input_gradient| (normalised), the class
  the predicted one.
- --top: on a small synthetic data set, the k images per channel whose largest response is
  largest (ties: the first image, the first position), and each crop the receptive field of
  that position, zero outside the image.
Exit 0: pass; 1: fail; 77: numpy or PIL missing.
"""

import argparse
import ctypes
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
try:
    import numpy as np
    from PIL import Image
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)
import safetensors_io

FAILURES = []


def check(ok, what):
    if not ok:
        FAILURES.append(what)
        print("FAIL:", what)


def png(path):
    return np.asarray(Image.open(path))


def normalised(v):
    lo, hi = float(v.min()), float(v.max())
    return np.zeros(v.shape, np.uint8) if hi <= lo else np.rint((v.astype(np.float64) - lo) / (hi - lo) * 255).astype(np.uint8)


def upscale(a, s):
    return np.repeat(np.repeat(a, s, axis=0), s, axis=1)


def tile(img, t, cols, th, tw, dx=0):
    y, x = 1 + (t // cols) * (th + 1), 1 + dx + (t % cols) * (tw + 1)
    return img[y:y + th, x:x + tw]


def write_idx(path, array):
    dims = array.shape
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims))
        f.write(array.astype(np.uint8).tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--cnnrt", required=True)
    args = ap.parse_args()
    args.cnnc, args.cnnrt = os.path.abspath(args.cnnc), os.path.abspath(args.cnnrt)
    root = os.path.join(HERE, "..", "..")
    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, "lenet5.so")
        subprocess.run([args.cnnc, os.path.join(root, "examples", "lenet5.cnn"), "--train", "-q", "-o", so], check=True)
        lib = ctypes.CDLL(so)
        lib.lenet5_create.restype = ctypes.c_void_p
        lib.lenet5_last_error.restype = ctypes.c_char_p
        lib.lenet5_save_weights.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.lenet5_infer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.lenet5_infer_layer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
        lib.lenet5_input_gradient.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        model = lib.lenet5_create()
        weights_path = os.path.join(tmp, "w.safetensors")
        assert lib.lenet5_save_weights(model, weights_path.encode()) == 0
        weights = safetensors_io.load(weights_path)

        def layer(name, x, shape):
            out = np.zeros([x.shape[0]] + shape, np.float32)
            assert lib.lenet5_infer_layer(model, x.ctypes.data, x.shape[0], name.encode(), out.ctypes.data) == 0
            return out

        # A small data set: random strokes on black, bytes as IDX files.
        rng = np.random.default_rng(3)
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        images = (rng.random((40, 28, 28)) < 0.15) * rng.integers(100, 256, (40, 28, 28))
        for stem, n in (("train", 8), ("t10k", 40)):
            write_idx(os.path.join(data, f"{stem}-images-idx3-ubyte"), images[:n])
            write_idx(os.path.join(data, f"{stem}-labels-idx1-ubyte"), np.arange(n) % 10)
        x = np.ascontiguousarray(images[:, None] / np.float32(255), np.float32)
        first = os.path.join(data, "t10k-images-idx3-ubyte") + ":0"

        def visualize(*extra, expect_ok=True):
            r = subprocess.run([args.cnnrt, "visualize", so, "--weights", weights_path] + list(extra),
                               capture_output=True, text=True, cwd=tmp)
            if expect_ok and r.returncode != 0:
                raise RuntimeError(f"cnnrt visualize {extra} failed: {r.stderr}")
            return r

        # Filters: 1 input channel, a tile per filter, 3 to a row; 6 input channels, a row per filter.
        visualize("--filters", "conv1", "-o", "f1.png")
        img, w = png(os.path.join(tmp, "f1.png")), weights["conv1.weight"]
        check(img.shape == (1 + 2 * 41, 1 + 3 * 41), f"conv1 filter grid shape {img.shape}")
        for f in range(6):
            check((tile(img, f, 3, 40, 40) == upscale(normalised(w[f, 0]), 8)).all(), f"conv1 filter {f} pixels")
        check((img[0] == 255).all() and (img[:, 0] == 255).all() and (img[41] == 255).all(), "conv1 borders")
        visualize("--filters", "conv2", "--scale", "2", "-o", "f2.png")
        img, w = png(os.path.join(tmp, "f2.png")), weights["conv2.weight"]
        check(img.shape == (1 + 16 * 11, 1 + 6 * 11), f"conv2 filter grid shape {img.shape}")
        for f in range(16):
            n = normalised(w[f])
            for c in range(6):
                check((tile(img, f * 6 + c, 6, 10, 10) == upscale(n[c], 2)).all(), f"conv2 filter {f} channel {c}")

        # Filters with 3 input channels: a colour tile per filter (every_op's conv1: 8 filters 3x5).
        every_op = os.path.join(tmp, "every_op.so")
        subprocess.run([args.cnnc, os.path.join(root, "examples", "every_op.cnn"), "-q", "-o", every_op], check=True)
        r = subprocess.run([args.cnnrt, "visualize", every_op, "--filters", "conv1", "--scale", "2", "-o", "rgb.png"],
                           capture_output=True, text=True, cwd=tmp)
        check(r.returncode == 0, f"colour filters: {r.stderr}")
        lib_rgb = ctypes.CDLL(every_op)
        lib_rgb.every_op_create.restype = ctypes.c_void_p
        lib_rgb.every_op_save_weights.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        rgb_weights = os.path.join(tmp, "rgb.safetensors")
        assert lib_rgb.every_op_save_weights(lib_rgb.every_op_create(), rgb_weights.encode()) == 0
        img, w = png(os.path.join(tmp, "rgb.png")), safetensors_io.load(rgb_weights)["conv1.weight"]
        check(img.shape == (1 + 3 * 7, 1 + 3 * 11, 3), f"colour filter grid shape {img.shape}")
        for f in range(8):
            expected = np.stack([upscale(c, 2) for c in normalised(w[f])], axis=-1)
            check((tile(img, f, 3, 6, 10) == expected).all(), f"colour filter {f} pixels")

        # Activations: the image (scale 4), then the maps, each about the image's size.
        visualize("--activations", "conv2", "--image", first, "-o", "a.png")
        img, maps = png(os.path.join(tmp, "a.png")), layer("conv2", x[:1], [16, 10, 10])[0]
        check((img[1:113, 1:113] == upscale(images[0], 4)).all(), "activations: the input image")
        for c in range(16):  # map scale 4 * 28 // 10 = 11
            check((tile(img, c, 4, 110, 110, dx=113) == upscale(normalised(maps[c]), 11)).all(), f"conv2 map {c}")

        # Saliency: heat = max |d logit / d x| over channels, normalised, through the colour map's red ramp.
        r = visualize("--saliency", "--image", first, "-o", "s.png")
        scores = np.zeros((1, 10), np.float32)
        lib.lenet5_infer(model, x[:1].ctypes.data, 1, scores.ctypes.data)
        predicted = int(scores.argmax())
        check(f"class {predicted} (predicted {predicted})" in r.stdout, f"saliency class: {r.stdout}")
        grad, cls = np.zeros_like(x[:1]), np.array([predicted], np.int32)
        lib.lenet5_input_gradient(model, x[:1].ctypes.data, 1, cls.ctypes.data, grad.ctypes.data)
        heat = np.abs(grad[0]).max(axis=0)
        red = np.rint(np.clip(3.0 * heat / heat.max(), 0, 1) * 255).astype(np.uint8)
        img = png(os.path.join(tmp, "s.png"))
        check((tile(img, 1, 3, 112, 112)[:, :, 0] == upscale(red, 4)).all(), "saliency heat map")

        # Top patches of conv2 (receptive field 14x14, rows -2 + 2y): ranking and crops.
        r = visualize("--top", "conv2", "--data", data, "-k", "3", "--channels", "4", "--scale", "1", "-o", "t.png")
        check("receptive field 14x14, rows -2 + 2*y, columns -2 + 2*x" in r.stdout, f"top field: {r.stdout}")
        values = layer("conv2", x, [16, 10, 10]).reshape(40, 16, 100)
        img = png(os.path.join(tmp, "t.png"))
        padded = np.pad(images, ((0, 0), (2, 14), (2, 14)))
        for c in range(4):
            best = values[:, c].max(axis=1)
            order = np.argsort(-best, kind="stable")[:3]
            expected = []
            for rank, i in enumerate(order):
                p = int(values[i, c].argmax())
                y, xx = divmod(p, 10)
                expected.append(f"{i}@{y},{xx}=")
                crop = padded[i, 2 * y:2 * y + 14, 2 * xx:2 * xx + 14]
                check((tile(img, c * 3 + rank, 3, 14, 14) == crop).all(), f"top crop channel {c} rank {rank}")
            line = next((l for l in r.stdout.splitlines() if l.startswith(f"channel {c}:")), "")
            got = [t.split("=")[0] + "=" for t in line.split()[2:]]
            check(got == expected, f"top channel {c}: {got} vs {expected}")

        # Errors: one line, exit status 1.
        small = os.path.join(tmp, "small.png")
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(small)
        for extra, needle in [
            (["--filters", "nope", "-o", "x.png"], "no layer named 'nope'"),
            (["--activations", "conv9", "--image", first, "-o", "x.png"], "no layer named 'conv9'"),
            (["--top", "nope", "--data", data, "-o", "x.png"], "no layer named 'nope'"),
            (["--filters", "conv1.relu", "-o", "x.png"], "layer 'conv1.relu' has no filters"),
            (["--saliency", "--image", first, "--class", "10", "-o", "x.png"], "class 10 at index 0 is out of range [0, 10)"),
            (["--saliency", "--image", first, "--class", "-1", "-o", "x.png"], "class -1 at index 0 is out of range"),
            (["--saliency", "--image", os.path.join(tmp, "missing.png"), "-o", "x.png"], "missing.png"),
            (["--activations", "conv1", "--image", small, "-o", "x.png"], "image is 32x32 (WxH)"),
            (["--filters", "conv1"], "visualize needs -o OUT.png"),
            (["--filters", "conv1", "--saliency", "-o", "x.png"], "exactly one of"),
        ]:
            r = visualize(*extra, expect_ok=False)
            errors = [l for l in r.stderr.splitlines() if l.startswith("cnnrt: error:")]
            check(r.returncode == 1 and len(errors) == 1 and needle in errors[0], f"{extra}: {r.returncode} {r.stderr!r}")
        untrained = os.path.join(tmp, "inference_only", "lenet5.so")
        os.mkdir(os.path.dirname(untrained))
        subprocess.run([args.cnnc, os.path.join(root, "examples", "lenet5.cnn"), "-q", "-o", untrained], check=True)
        r = subprocess.run([args.cnnrt, "visualize", untrained, "--saliency", "--image", first, "-o", "x.png"],
                           capture_output=True, text=True, cwd=tmp)
        check(r.returncode == 1 and "compiled without --train" in r.stderr, f"saliency without --train: {r.stderr!r}")
    print("visualize: " + ("ok" if not FAILURES else f"{len(FAILURES)} failures"))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
