"""Compile convolutional networks with cnnc and run them from Python.

    import cnnc, numpy as np
    m = cnnc.compile("lenet5.cnn", train=True)     # or cnnc.load("lenet5.so")
    m.set_sgd(lr=0.01, momentum=0.9)
    loss = m.train_step(images, labels)           # images: [N, C, H, W] float32
    probs = m.infer(images)                       # [N, output_size]

A model wraps one instance of a library cnnc wrote (its <name>_* C API, called
through ctypes). Every error the library reports is raised as cnnc.Error with
its message; arrays are checked (shape, dtype, contiguity) and converted where
that is cheap before any call into C.
"""
import ctypes
import os
import shutil
import subprocess
import tempfile

import numpy as np

from cnnc._elf import exported_symbols

__all__ = ["Error", "Model", "compile", "load", "find_cnnc"]


class Error(Exception):
    """An error cnnc or a compiled library reported."""


def find_cnnc():
    """The cnnc executable: $CNNC, else cnnc on PATH."""
    path = os.environ.get("CNNC") or shutil.which("cnnc")
    if not path:
        raise Error("cannot find cnnc: put it on PATH or set CNNC=/path/to/cnnc")
    return path


def compile(source, output=None, *, train=False, name=None, weights=None, options=()):
    """Compiles `source` (.cnn, .ir or .onnx) with cnnc and loads the library.

    output: the .so to write (default: a temporary file, removed once loaded).
    train: also build the training step. name: the C prefix (cnnc --name).
    weights: a safetensors file compiled in (cnnc --weights).
    options: further cnnc arguments, e.g. ["--target=host"].
    """
    args = [find_cnnc(), os.fspath(source), "-q"]
    if train:
        args.append("--train")
    if name:
        args.append(f"--name={name}")
    if weights:
        args.append(f"--weights={os.fspath(weights)}")
    args += list(options)
    scratch = None
    if output is None:
        scratch = tempfile.mkdtemp(prefix="cnnc-py-")
        output = os.path.join(scratch, "model.so")
    try:
        result = subprocess.run(args + ["-o", os.fspath(output)], capture_output=True, text=True)
        if result.returncode != 0:
            raise Error(result.stderr.strip() or f"cnnc exited with status {result.returncode}")
        return load(output, name=name)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def load(path, name=None):
    """Loads a library cnnc wrote; `name` (its C prefix) is found when not given."""
    return Model(path, name)


def _network_name(path):
    names = [s[: -len("_create")] for s in exported_symbols(path) if s.endswith("_create")]
    if len(names) != 1:
        raise Error(f"{path}: not a cnnc library (exports {len(names)} *_create functions)")
    return names[0]


_float_p = ctypes.POINTER(ctypes.c_float)
_int32_p = ctypes.POINTER(ctypes.c_int32)

# Each C function: (suffix, result type, argument types); "model" is the model pointer.
_SIGNATURES = [
    ("create", ctypes.c_void_p, []),
    ("destroy", None, [ctypes.c_void_p]),
    ("last_error", ctypes.c_char_p, []),
    ("input_dims", ctypes.c_int, [ctypes.POINTER(ctypes.c_int)]),
    ("output_size", ctypes.c_int, []),
    ("load_weights", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
    ("save_weights", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
    ("infer", ctypes.c_int, [ctypes.c_void_p, _float_p, ctypes.c_int, _float_p]),
    ("set_memory_limit", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
    ("set_num_threads", ctypes.c_int, [ctypes.c_int]),
    ("set_sgd", ctypes.c_int, [ctypes.c_void_p] + [ctypes.c_float] * 3),
    ("set_adam", ctypes.c_int, [ctypes.c_void_p] + [ctypes.c_float] * 5),
    ("set_lr", ctypes.c_int, [ctypes.c_void_p, ctypes.c_float]),
    ("train_step", ctypes.c_int, [ctypes.c_void_p, _float_p, _int32_p, ctypes.c_int, _float_p]),
    ("save_checkpoint", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
    ("load_checkpoint", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p]),
]
# The layer API (any layer's output): libraries from before it lack these.
_LAYER_SIGNATURES = [
    ("layer_count", ctypes.c_int, []),
    ("layer_name", ctypes.c_char_p, [ctypes.c_int]),
    ("layer_dims", ctypes.c_int, [ctypes.c_int, ctypes.POINTER(ctypes.c_int)]),
    ("infer_layer", ctypes.c_int, [ctypes.c_void_p, _float_p, ctypes.c_int, ctypes.c_char_p, _float_p]),
    ("input_gradient", ctypes.c_int, [ctypes.c_void_p, _float_p, ctypes.c_int, _int32_p, _float_p]),
]


class Model:
    """One model instance of a cnnc library: weights, optimiser state, C API."""

    def __init__(self, path, name=None):
        path = os.path.abspath(os.fspath(path))
        if not os.path.isfile(path):
            raise Error(f"cannot read '{path}'")
        self.name = name or _network_name(path)
        self.path = path
        lib = ctypes.CDLL(path)
        self._fn = {}
        for suffix, restype, argtypes in _SIGNATURES:
            try:
                f = getattr(lib, f"{self.name}_{suffix}")
            except AttributeError:
                raise Error(f"{path}: no function {self.name}_{suffix} (not a cnnc library, or another name)")
            f.restype, f.argtypes = restype, argtypes
            self._fn[suffix] = f
        for suffix, restype, argtypes in _LAYER_SIGNATURES:
            f = getattr(lib, f"{self.name}_{suffix}", None)
            if f is not None:
                f.restype, f.argtypes = restype, argtypes
                self._fn[suffix] = f
        self._lib = lib
        dims = (ctypes.c_int * 3)()
        self._check(self._fn["input_dims"](dims))
        self.input_shape = tuple(dims)
        self.output_size = self._fn["output_size"]()
        if self.output_size < 0:
            self._raise()
        self._model = self._fn["create"]()
        if not self._model:
            self._raise()

    def _raise(self):
        raise Error(self._fn["last_error"]().decode(errors="replace"))

    def _check(self, status):
        if status != 0:
            self._raise()

    def _handle(self):
        if not self._model:
            raise Error("the model is closed")
        return self._model

    def close(self):
        """Frees the model now (also done when it is garbage-collected)."""
        if getattr(self, "_model", None):
            self._fn["destroy"](self._model)
            self._model = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<cnnc.Model {self.name} input {self.input_shape} -> {self.output_size}, {self.path}>"

    def _images(self, x):
        x = np.asarray(x)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{self.name} takes images of shape [N, {', '.join(map(str, self.input_shape))}]"
                             f", got {list(x.shape)}")
        if x.shape[0] < 1:
            raise ValueError("a batch needs at least one image")
        if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"images must be numbers, got dtype {x.dtype}")
        return np.ascontiguousarray(x, dtype=np.float32)

    def infer(self, x):
        """Runs the network on a batch [N, C, H, W]; returns [N, output_size] float32."""
        x = self._images(x)
        out = np.empty((x.shape[0], self.output_size), dtype=np.float32)
        self._check(self._fn["infer"](self._handle(), x.ctypes.data_as(_float_p), x.shape[0],
                                      out.ctypes.data_as(_float_p)))
        return out

    def _layer_fn(self, suffix):
        if suffix not in self._fn:
            raise Error(f"{self.path} has no layer API ({self.name}_{suffix}): compile it with this cnnc again")
        return self._fn[suffix]

    @property
    def layers(self):
        """{layer name: (C, H, W) per sample}, in network order, as `cnnc --summary` names them."""
        out = {}
        for i in range(self._layer_fn("layer_count")()):
            dims = (ctypes.c_int * 3)()
            self._check(self._layer_fn("layer_dims")(i, dims))
            out[self._layer_fn("layer_name")(i).decode()] = tuple(dims)
        return out

    def infer_layer(self, x, layer):
        """The output of `layer` (a name from `layers`) for a batch: [N, C, H, W] float32."""
        shape = self.layers.get(layer)
        if shape is None:
            raise Error(f"{self.name} has no layer '{layer}' (see Model.layers)")
        x = self._images(x)
        out = np.empty((x.shape[0], *shape), dtype=np.float32)
        self._check(self._layer_fn("infer_layer")(self._handle(), x.ctypes.data_as(_float_p), x.shape[0],
                                                  layer.encode(), out.ctypes.data_as(_float_p)))
        return out

    def input_gradient(self, x, classes):
        """d logit[classes[i]] / d input for each image i (saliency), in inference
        mode: [N, C, H, W] float32. Libraries compiled with --train."""
        x = self._images(x)
        classes = self._labels(classes, x.shape[0], "classes")
        grad = np.empty(x.shape, dtype=np.float32)
        self._check(self._layer_fn("input_gradient")(self._handle(), x.ctypes.data_as(_float_p), x.shape[0],
                                                     classes.ctypes.data_as(_int32_p), grad.ctypes.data_as(_float_p)))
        return grad

    def _labels(self, labels, batch, what="labels"):
        labels = np.asarray(labels)
        if labels.shape != (batch,):
            raise ValueError(f"{what} must have shape [{batch}], got {list(labels.shape)}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{what} must be integers, got dtype {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() >= 2**31):
            raise ValueError(f"{what} must be class indices (0 <= label < 2^31)")
        return np.ascontiguousarray(labels, dtype=np.int32)

    def train_step(self, x, labels):
        """One optimiser step on a batch; returns the batch's mean loss."""
        x = self._images(x)
        labels = self._labels(labels, x.shape[0])
        loss = ctypes.c_float()
        self._check(self._fn["train_step"](self._handle(), x.ctypes.data_as(_float_p),
                                           labels.ctypes.data_as(_int32_p), x.shape[0], ctypes.byref(loss)))
        return loss.value

    def set_sgd(self, lr=0.01, momentum=0.0, weight_decay=0.0):
        self._check(self._fn["set_sgd"](self._handle(), lr, momentum, weight_decay))

    def set_adam(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        self._check(self._fn["set_adam"](self._handle(), lr, beta1, beta2, eps, weight_decay))

    def set_lr(self, lr):
        """Changes the learning rate, keeping the optimiser's state."""
        self._check(self._fn["set_lr"](self._handle(), lr))

    def set_memory_limit(self, nbytes):
        """The most bytes of activations one call may use (0: no limit)."""
        self._check(self._fn["set_memory_limit"](self._handle(), int(nbytes)))

    def set_num_threads(self, n):
        """Threads the library's kernels use, process-wide (0: one per core); returns the previous count."""
        previous = self._fn["set_num_threads"](int(n))
        if previous < 0:
            self._raise()
        return previous

    def _path_call(self, fn, path):
        self._check(self._fn[fn](self._handle(), os.fsencode(path)))

    def load_weights(self, path):
        """Replaces the weights with a safetensors file's (all or nothing)."""
        self._path_call("load_weights", path)

    def save_weights(self, path):
        """Writes the weights as safetensors (atomically)."""
        self._path_call("save_weights", path)

    def save_checkpoint(self, path):
        """Weights and optimiser state, so that training resumes bit-identically."""
        self._path_call("save_checkpoint", path)

    def load_checkpoint(self, path):
        self._path_call("load_checkpoint", path)
