#!/usr/bin/python3
"""Self-check for scripts/safetensors_io.py and scripts/torch_to_safetensors.py, and
their agreement with the C runtime. No pytest: run as
    /usr/bin/python3 test_safetensors_py.py [path/to/cnnrt_st_tool]
(ctest passes the tool, built from st_tool.cpp; torch checks run only if torch imports)."""

import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import safetensors_io as st  # noqa: E402
import torch_to_safetensors as t2s  # noqa: E402

# The TestModel network's parameters (tests/runtime/TestModel.h).
SHAPES = {"scale.weight": (2,), "scale.bias": (2,), "fc.weight": (5, 24), "fc.bias": (5,)}

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def expect_error(fn, what):
    try:
        fn()
    except st.SafetensorsError:
        return
    check(False, what + " (no error raised)")


def same(a, b):
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes()
        for k in a)


def main():
    tool = sys.argv[1] if len(sys.argv) > 1 else None
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "a.safetensors")

        # Python round trip, several dtypes and ranks, bit-exact.
        arrays = {
            "conv.weight": rng.standard_normal((6, 1, 5, 5)).astype(np.float32),
            "b": np.array([np.nan, -0.0, 1e-40, np.inf], np.float32),
            "i": np.arange(6, dtype=np.int64).reshape(2, 3),
            "scalar": np.array(3.5, np.float32),
            "empty": np.zeros((0, 3), np.float32),
            "strided": rng.standard_normal((4, 6)).astype(np.float32)[:, ::2],
        }
        st.save(arrays, p)
        got, meta = st.load(p, with_metadata=True)
        check(same({k: np.array(v, order="C") for k, v in arrays.items()}, got), "py round trip")
        check(meta == {"format": "pt"}, "metadata")
        raw = open(p, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        check((8 + n) % 8 == 0, "data aligned")
        check(os.listdir(d) == ["a.safetensors"], "no temp files")

        # Malformed files.
        for cut in range(len(raw)):
            with open(p, "wb") as f:
                f.write(raw[:cut])
            expect_error(lambda: st.load(p), f"truncated to {cut}")
        with open(p, "wb") as f:
            f.write(raw + b"xx")
        expect_error(lambda: st.load(p), "trailing bytes")
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", 10**12) + b"{}")
        expect_error(lambda: st.load(p), "huge header")

        # Python -> C -> Python, bit-exact; and C's own file readable from Python.
        if tool:
            weights = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
            weights["bn.num_batches_tracked"] = np.array(7, np.int64)  # ignored by C
            src, dst = os.path.join(d, "src.safetensors"), os.path.join(d, "dst.safetensors")
            st.save(weights, src)
            r = subprocess.run([tool, "roundtrip", src, dst], capture_output=True, text=True)
            check(r.returncode == 0, "C round trip: " + r.stderr)
            if r.returncode == 0:
                del weights["bn.num_batches_tracked"]
                check(same(weights, st.load(dst)), "C round trip values")
            r = subprocess.run([tool, "save", dst], capture_output=True, text=True)
            check(r.returncode == 0, "C save: " + r.stderr)
            init = st.load(dst)
            check({k: v.shape for k, v in init.items()} == SHAPES, "C save shapes")
            check(np.all(init["scale.weight"] == 1) and np.all(init["scale.bias"] == 0), "C init")
            check(np.all(np.abs(init["fc.weight"]) <= 1 / np.sqrt(24)), "C init bound")
            # The C loader's error messages reach the caller.
            bad = dict(weights)
            bad["fc.weight"] = bad["fc.weight"][:, :20].copy()
            st.save(bad, src)
            r = subprocess.run([tool, "load", src], capture_output=True, text=True)
            check(r.returncode == 1 and "has shape [5, 20], expected [5, 24]" in r.stderr,
                  "C shape error: " + r.stderr)

        # torch <-> safetensors, if torch is available.
        try:
            import torch
        except ImportError:
            print("torch not available: skipping torch checks")
            torch = None
        if torch is not None:
            torch.manual_seed(0)
            model = torch.nn.Sequential(
                torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                torch.nn.Linear(12, 4))
            model(torch.randn(2, 1, 4, 4))  # updates BN running stats
            p = os.path.join(d, "m.safetensors")
            t2s.save_module(model, p)
            sd = model.state_dict()
            got = st.load(p)
            check(set(got) == {k for k in sd if not k.endswith("num_batches_tracked")},
                  "torch names")
            check(all(got[k].dtype == np.float32 and np.array_equal(got[k], sd[k].numpy())
                      for k in got), "torch values")
            back = t2s.load_state_dict(p)
            clone = torch.nn.Sequential(
                torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                torch.nn.Linear(12, 4))
            clone.load_state_dict(back, strict=False)
            model.eval(), clone.eval()
            x = torch.randn(3, 1, 4, 4)
            check(torch.equal(model(x), clone(x)), "torch reload gives same outputs")

            # CLI: .pt -> .safetensors -> .pt
            pt, stp, pt2 = (os.path.join(d, n) for n in ("m.pt", "m2.safetensors", "m2.pt"))
            torch.save(sd, pt)
            script = os.path.join(HERE, "..", "..", "scripts", "torch_to_safetensors.py")
            for args in (["to-safetensors", pt, stp], ["to-pt", stp, pt2], ["list", stp]):
                check(t2s.main(args) == 0, f"CLI {args[0]}")
            sd2 = torch.load(pt2)
            check(all(torch.equal(sd[k].float(), sd2[k]) for k in sd2) and
                  set(sd2) == set(got), "CLI round trip")
            check(t2s.main(["to-pt", os.path.join(d, "nope"), pt2]) == 1, "CLI missing file")
            r = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
            check(r.returncode == 0 and "to-safetensors" in r.stdout, "CLI --help")

    print("OK" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
