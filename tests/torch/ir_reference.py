"""An independent reference: executes cnnc's textual IR with PyTorch.

Reads the IR that `cnnc model.cnn --emit=ir` prints (one node per line) and runs
each node with torch.nn.functional, using PyTorch's semantics for every op. It
shares no code with cnnc, so agreement between the two is evidence for both the
compiler's kernels and its frontend's shape rules.
"""

import re

import torch
import torch.nn.functional as F

_NODE = re.compile(r'^\s*%(\d+) = ([a-z_]+)\(([^)]*)\)\s*(\{.*\})?\s*(?:name="((?:[^"\\]|\\.)*)")?\s*:\s*f32\[([^\]]*)\]')
_HEADER = re.compile(r'^network (\w+)\(%0: f32\[([^\]]*)\]\)')


def _value(text):
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"'):
        return bytes(text[1:-1], "utf-8").decode("unicode_escape")
    if text.startswith("["):
        return tuple(int(v) for v in text[1:-1].split(","))
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return float(text)


def _attrs(text):
    if not text:
        return {}
    body, out, depth, cur = text.strip()[1:-1], {}, 0, ""
    for ch in body + ",":
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            if cur.strip():
                k, v = cur.split("=", 1)
                out[k.strip()] = _value(v)
            cur = ""
        else:
            cur += ch
    return out


class Graph:
    def __init__(self, ir_text):
        self.nodes = []  # (id, op, operands, attrs, name)
        self.result = None
        self.aux = []  # (node id, weight) of each auxiliary head
        for line in ir_text.splitlines():
            h = _HEADER.match(line)
            if h:
                self.name = h.group(1)
                self.input_shape = [int(d) for d in h.group(2).split(",")[1:]]
                continue
            m = _NODE.match(line)
            if m:
                operands = [int(o.strip()[1:]) for o in m.group(3).split(",") if o.strip()]
                self.nodes.append((int(m.group(1)), m.group(2), operands, _attrs(m.group(4)), m.group(5) or ""))
                continue
            r = re.match(r"^\s*return %(\d+)", line)
            if r:
                self.result = int(r.group(1))
            a = re.match(r"^\s*aux %(\d+) weight=(\S+)", line)
            if a:
                self.aux.append((int(a.group(1)), float(a.group(2))))

    def parameter_shapes(self):
        """Names and shapes of every parameter, found by running the graph once."""
        shapes = {}
        self.run(torch.zeros([1] + self.input_shape), _ShapeRecorder(shapes))
        return shapes

    def run(self, x, params, training=False, logits=False):
        """The network's output; training=True uses batch statistics (updating
        the running ones in `params`, as torch does); logits=True returns the
        input of a final softmax (what the training loss is computed from)."""
        values = self._evaluate(x, params, training)
        return values[self._logits(self.result) if logits else self.result]

    def training_heads(self, x, params, random_dropout=False):
        """(weight, logits) of the result (weight 1) and of each aux head, in
        training mode: the loss cnnc trains is the sum of weight x the mean
        cross-entropy of each head's logits. Dropout with p > 0 is an error,
        since cnnc's masks cannot be reproduced, unless random_dropout (torch's
        own masks: the same work, for timing)."""
        values = self._evaluate(x, params, training=True, random_dropout=random_dropout)
        return [(1.0, values[self._logits(self.result)])] + [(w, values[self._logits(n)]) for n, w in self.aux]

    def _logits(self, nid):
        """The input of node nid when it is a softmax, else nid itself."""
        node = next(n for n in self.nodes if n[0] == nid)
        return node[2][0] if node[1] == "softmax" else nid

    def _evaluate(self, x, params, training, random_dropout=False):
        values = {0: x}
        for nid, op, operands, a, name in self.nodes:
            ins = [values[o] for o in operands]
            get = (lambda s, name=name: params[name + "." + s]) if not isinstance(params, _ShapeRecorder) \
                else (lambda s, name=name: params.get(name + "." + s))
            if training and op == "batchnorm":
                values[nid] = _batchnorm_train(ins, a, get)
            elif training and op == "dropout" and a["p"] != 0:
                if not random_dropout:
                    raise ValueError("the reference cannot reproduce cnnc's dropout masks; use p=0")
                values[nid] = torch.nn.functional.dropout(ins[0], a["p"], training=True)
            else:
                values[nid] = _OPS[op](ins, a, get)
        return values


class Module(torch.nn.Module):
    """A Graph as a torch.nn.Module, e.g. for torch.onnx.export: `params`'
    tensors become its parameters under their cnnc names ("conv1.weight" is
    parameter weight of submodule conv1), so its state_dict is a weights file's."""

    def __init__(self, graph, params):
        super().__init__()
        self.graph = graph
        for key, value in params.items():
            *path, leaf = key.split(".")
            owner = self
            for part in path:
                if not hasattr(owner, part):
                    owner.add_module(part, torch.nn.Module())
                owner = getattr(owner, part)
            owner.register_parameter(leaf, torch.nn.Parameter(value, requires_grad=False))

    def forward(self, x):
        return self.graph.run(x, dict(self.named_parameters()))


class _ShapeRecorder(dict):
    """Stands in for the weights while discovering parameter shapes."""

    def __init__(self, shapes):
        super().__init__()
        self.shapes = shapes
        self.pending = None

    def get(self, key):
        return _Lazy(self.shapes, key)


class _Lazy:
    def __init__(self, shapes, key):
        self.shapes, self.key = shapes, key


def _param(get, suffix, shape_fn):
    p = get(suffix)
    if isinstance(p, _Lazy):
        shape = shape_fn()
        p.shapes[p.key] = shape
        return torch.ones(shape) if suffix in ("weight", "running_var") else torch.zeros(shape)
    return p


def _conv(ins, a, get):
    x = ins[0]
    kh, kw = a["size"]
    w = _param(get, "weight", lambda: (a["filters"], x.shape[1] // a["groups"], kh, kw))
    b = _param(get, "bias", lambda: (a["filters"],)) if a["bias"] else None
    return F.conv2d(x, w, b, a["stride"], a["pad"], a["dilation"], a["groups"])


def _dense(ins, a, get):
    x = ins[0]
    w = _param(get, "weight", lambda: (a["units"], x.shape[1]))
    b = _param(get, "bias", lambda: (a["units"],)) if a["bias"] else None
    return F.linear(x, w, b)


def _batchnorm(ins, a, get):
    c = (ins[0].shape[1],)
    w, b = _param(get, "weight", lambda: c), _param(get, "bias", lambda: c)
    m, v = _param(get, "running_mean", lambda: c), _param(get, "running_var", lambda: c)
    return F.batch_norm(ins[0], m, v, w, b, training=False, eps=a["eps"])


def _batchnorm_train(ins, a, get):
    return F.batch_norm(ins[0], get("running_mean"), get("running_var"), get("weight"), get("bias"),
                        training=True, momentum=a["momentum"], eps=a["eps"])


_OPS = {
    "conv": _conv,
    "dense": _dense,
    "batchnorm": _batchnorm,
    "relu": lambda i, a, g: F.relu(i[0]),
    "sigmoid": lambda i, a, g: torch.sigmoid(i[0]),
    "tanh": lambda i, a, g: torch.tanh(i[0]),
    "leaky_relu": lambda i, a, g: F.leaky_relu(i[0], a["slope"]),
    "clip": lambda i, a, g: torch.clamp(i[0], a["min"], a["max"]),
    "maxpool": lambda i, a, g: F.max_pool2d(i[0], a["size"], a["stride"], a["pad"], ceil_mode=a["ceil"]),
    "avgpool": lambda i, a, g: F.avg_pool2d(i[0], a["size"], a["stride"], a["pad"], ceil_mode=a["ceil"],
                                            count_include_pad=a["count_pad"]),
    "adaptive_avgpool": lambda i, a, g: F.adaptive_avg_pool2d(i[0], a["size"]),
    "pad": lambda i, a, g: F.pad(i[0], (a["left"], a["right"], a["top"], a["bottom"]), value=a["value"]),
    "flatten": lambda i, a, g: torch.flatten(i[0], 1),
    "softmax": lambda i, a, g: F.softmax(i[0], dim=1),
    "dropout": lambda i, a, g: i[0],
    "lrn": lambda i, a, g: F.local_response_norm(i[0], a["size"], a["alpha"], a["beta"], a["k"]),
    "concat": lambda i, a, g: torch.cat(i, dim=1),
    "add": lambda i, a, g: i[0] + i[1],
}
