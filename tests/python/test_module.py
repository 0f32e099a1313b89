"""The cnnc Python module against the libraries cnnc writes."""
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

import cnnc


@pytest.fixture(scope="module")
def lenet5(examples, tmp_path_factory):
    path = tmp_path_factory.mktemp("lenet5") / "lenet5.so"
    return cnnc.compile(examples / "lenet5.cnn", output=path, train=True)


def test_shapes_and_name(lenet5):
    assert lenet5.name == "lenet5"
    assert lenet5.input_shape == (1, 28, 28)
    assert lenet5.output_size == 10


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_infer_any_batch_equals_one_by_one(lenet5, batch):
    x = np.random.default_rng(batch).random((batch, 1, 28, 28), dtype=np.float32)
    out = lenet5.infer(x)
    assert out.shape == (batch, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # LeNet-5 ends in softmax
    for i in range(batch):  # batch sizes may take differently vectorised kernels: equal up to rounding
        np.testing.assert_allclose(lenet5.infer(x[i:i + 1])[0], out[i], rtol=1e-5, atol=1e-7)


def test_inputs_are_converted_where_cheap(lenet5):
    x = np.random.default_rng(0).random((2, 1, 28, 28))  # float64
    expected = lenet5.infer(x.astype(np.float32))
    np.testing.assert_array_equal(lenet5.infer(x), expected)
    np.testing.assert_array_equal(lenet5.infer(np.asfortranarray(x)), expected)
    np.testing.assert_array_equal(lenet5.infer(x.tolist()), expected)


def test_bad_arrays_are_refused_before_c(lenet5):
    with pytest.raises(ValueError, match=r"shape \[N, 1, 28, 28\], got \[2, 3, 28, 28\]"):
        lenet5.infer(np.zeros((2, 3, 28, 28)))
    with pytest.raises(ValueError, match="at least one image"):
        lenet5.infer(np.zeros((0, 1, 28, 28)))
    with pytest.raises(TypeError, match="must be numbers"):
        lenet5.infer(np.array([[[["a"] * 28] * 28]]))
    x = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"labels must have shape \[2\]"):
        lenet5.train_step(x, [1, 2, 3])
    with pytest.raises(TypeError, match="labels must be integers"):
        lenet5.train_step(x, [0.5, 1.0])


def test_library_errors_are_exceptions(lenet5, tmp_path):
    lenet5.set_sgd(0.01)
    with pytest.raises(cnnc.Error, match="label 30 at index 1 is out of range"):
        lenet5.train_step(np.zeros((2, 1, 28, 28), np.float32), [1, 30])
    with pytest.raises(cnnc.Error, match="cannot open"):
        lenet5.load_weights(tmp_path / "absent.safetensors")
    with pytest.raises(cnnc.Error, match="lr must be finite"):
        lenet5.set_sgd(lr=-1.0)
    with pytest.raises(cnnc.Error, match="cannot read"):
        cnnc.compile(tmp_path / "absent.cnn")
    bad = tmp_path / "bad.cnn"
    bad.write_text("network bad(x: [1, 4, 4]) {\n    return x -> nosuchop\n}\n")
    with pytest.raises(cnnc.Error, match=r"bad.cnn:2:.*nosuchop"):
        cnnc.compile(bad)
    with pytest.raises(cnnc.Error, match="not a cnnc library"):
        cnnc.load(subprocess.run(["sh", "-c", "command -v sh"], capture_output=True, text=True).stdout.strip())


def test_weights_round_trip_and_embedding(lenet5, examples, tmp_path):
    x = np.random.default_rng(5).random((3, 1, 28, 28), dtype=np.float32)
    other = cnnc.compile(examples / "lenet5.cnn", output=tmp_path / "other.so")
    assert other.set_num_threads(1) >= 0
    other.set_num_threads(0)
    lenet5.set_sgd(0.1)
    lenet5.train_step(x, [1, 2, 3])  # weights now differ from the initial ones
    lenet5.save_weights(tmp_path / "w.safetensors")
    assert not np.array_equal(other.infer(x), lenet5.infer(x))
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(other.infer(x), lenet5.infer(x))
    embedded = cnnc.compile(examples / "lenet5.cnn", name="digits", weights=tmp_path / "w.safetensors")
    assert embedded.name == "digits"
    np.testing.assert_array_equal(embedded.infer(x), lenet5.infer(x))


def test_closed_model(examples, tmp_path):
    with cnnc.compile(examples / "lenet5.cnn", output=tmp_path / "m.so") as m:
        m.infer(np.zeros((1, 1, 28, 28)))
    with pytest.raises(cnnc.Error, match="closed"):
        m.infer(np.zeros((1, 1, 28, 28)))


def read_idx(path):
    data = path.read_bytes()
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def test_numpy_training_loop_matches_cnnrt_train(examples, mnist, tmp_path):
    """Five epochs of SGD on the 8,000 training digits in a numpy loop reach
    the test accuracy `cnnrt train` reaches with the same hyper-parameters
    (the shuffles differ: seeds move the accuracy by about a point)."""
    so = tmp_path / "lenet5.so"
    model = cnnc.compile(examples / "lenet5.cnn", output=so, train=True)
    images = read_idx(mnist / "train-images-idx3-ubyte")[:, None].astype(np.float32) / 255
    labels = read_idx(mnist / "train-labels-idx1-ubyte")
    test_images = read_idx(mnist / "t10k-images-idx3-ubyte")[:, None].astype(np.float32) / 255
    test_labels = read_idx(mnist / "t10k-labels-idx1-ubyte")
    epochs, batch_size, lr, momentum = 5, 64, 0.01, 0.9
    model.set_sgd(lr=lr, momentum=momentum)
    rng = np.random.default_rng(1)
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            assert np.isfinite(model.train_step(images[batch], labels[batch]))
    ours = float((model.infer(test_images).argmax(axis=1) == test_labels).mean())

    out = subprocess.run([cnnrt_tool(), "train", str(so), "--data", str(mnist), "--epochs", str(epochs),
                          "--batch", str(batch_size), "--lr", str(lr), "--momentum", str(momentum), "--no-progress"],
                         capture_output=True, text=True, check=True).stdout
    theirs = float(out.split("test_acc")[-1].split()[0])
    print(f"test accuracy: numpy loop {ours:.4f}, cnnrt train {theirs:.4f}")
    assert ours > 0.92
    assert abs(ours - theirs) < 0.02


def cnnrt_tool():
    path = os.environ.get("CNNRT") or shutil.which("cnnrt")
    if not path:
        pytest.skip("no cnnrt ($CNNRT, or on PATH)")
    return path


def test_readme_example_runs(examples, tmp_path, monkeypatch):
    """README's Python example, as written, from a directory holding the examples."""
    readme = (examples.parent / "README.md").read_text()
    block = readme.split("## Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "examples").symlink_to(examples)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "lenet5.safetensors").stat().st_size > 0


def test_layers_and_saliency(lenet5):
    """Every layer by name; the last is infer's output; the input gradient of a
    class's logit equals finite differences of infer_layer on that logit."""
    layers = lenet5.layers
    names = list(layers)
    assert "conv1" in names and layers["conv1"] == (6, 28, 28)
    assert layers[names[-1]] == (10, 1, 1)
    x = np.random.default_rng(9).random((2, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(lenet5.infer_layer(x, names[-1]).reshape(2, 10), lenet5.infer(x), rtol=1e-5, atol=1e-7)
    with pytest.raises(cnnc.Error, match="no layer 'nosuch'"):
        lenet5.infer_layer(x, "nosuch")

    logits = names[-2]  # the softmax's input
    assert layers[logits] == (10, 1, 1)
    classes = lenet5.infer_layer(x, logits).reshape(2, 10).argmax(axis=1)
    grad = lenet5.input_gradient(x, classes)
    assert grad.shape == x.shape
    with pytest.raises(ValueError, match=r"classes must have shape \[2\]"):
        lenet5.input_gradient(x, [1])
    # Directional derivatives (a small step over the whole image, so that
    # float32 rounding stays far below the signal): along the gradient itself,
    # and along a random direction.
    eps = 0.05
    rng = np.random.default_rng(4)
    for sample in range(2):
        g = grad[sample]
        for direction in (g / np.linalg.norm(g), rng.standard_normal(g.shape).astype(np.float32)):
            direction = direction / np.linalg.norm(direction)
            up, down = x.copy(), x.copy()
            up[sample] += eps * direction
            down[sample] -= eps * direction
            c = classes[sample]
            numeric = (lenet5.infer_layer(up, logits)[sample].ravel()[c] -
                       lenet5.infer_layer(down, logits)[sample].ravel()[c]) / (2 * eps)
            assert abs(numeric - float((g * direction).sum())) <= 0.05 * np.linalg.norm(g), (numeric, g.sum())
