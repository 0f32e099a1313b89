#!/usr/bin/python3
"""Convert PyTorch state_dicts to/from safetensors files readable by cnnc models.

Usage (run with Debian's /usr/bin/python3, which has torch):
  torch_to_safetensors.py to-safetensors MODEL.pt OUT.safetensors
      MODEL.pt: a state_dict saved with torch.save(model.state_dict(), ...) (or a
      whole pickled module). Every tensor is written as float32, contiguous;
      '*num_batches_tracked' buffers are left out (the runtime ignores them anyway).
  torch_to_safetensors.py to-pt IN.safetensors OUT.pt
      Writes the tensors as a state_dict of torch tensors (torch.save). Load it with
      model.load_state_dict(torch.load(OUT.pt), strict=False) if the model has
      num_batches_tracked buffers.
  torch_to_safetensors.py list FILE.safetensors
      Prints name, dtype and shape of every tensor.

As a module:
  from torch_to_safetensors import save_module, save_state_dict, load_state_dict
  save_module(model, "w.safetensors")        # any torch.nn.Module
  sd = load_state_dict("w.safetensors")      # dict name -> torch.Tensor
  model.load_state_dict(sd, strict=False)
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

__all__ = ["state_dict_to_arrays", "save_state_dict", "save_module", "load_state_dict"]


def state_dict_to_arrays(state_dict):
    """dict name -> tensor/array  ->  dict name -> float32 contiguous numpy array."""
    out = {}
    for name, value in state_dict.items():
        if name.endswith("num_batches_tracked"):
            continue
        if hasattr(value, "detach"):  # torch.Tensor
            value = value.detach().to("cpu").float().contiguous().numpy()
        out[name] = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
    return out


def save_state_dict(state_dict, path):
    safetensors_io.save(state_dict_to_arrays(state_dict), path)


def save_module(module, path):
    save_state_dict(module.state_dict(), path)


def load_state_dict(path):
    import torch

    return {k: torch.from_numpy(v.copy()) for k, v in safetensors_io.load(path).items()}


def _load_pt(path):
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # older torch without weights_only
        obj = torch.load(path, map_location="cpu")
    except Exception:  # a pickled module: needs full unpickling (trusted files only)
        obj = torch.load(path, map_location="cpu", weights_only=False)
    if hasattr(obj, "state_dict"):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: not a state_dict or module")
    return obj


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Convert PyTorch state_dicts to/from safetensors for cnnc models.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("to-safetensors", help="state_dict .pt -> .safetensors (float32)")
    a.add_argument("input")
    a.add_argument("output")
    b = sub.add_parser("to-pt", help=".safetensors -> state_dict .pt")
    b.add_argument("input")
    b.add_argument("output")
    c = sub.add_parser("list", help="print the tensors of a .safetensors file")
    c.add_argument("input")
    args = p.parse_args(argv)

    try:
        if args.cmd == "to-safetensors":
            save_state_dict(_load_pt(args.input), args.output)
        elif args.cmd == "to-pt":
            import torch

            torch.save(load_state_dict(args.input), args.output)
        else:
            for name, arr in safetensors_io.load(args.input).items():
                print(f"{name}\t{arr.dtype}\t{list(arr.shape)}")
    except (OSError, safetensors_io.SafetensorsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
