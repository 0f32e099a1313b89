"""Fixtures for the tests of the Python module: cnnc from $CNNC (the build's),
the repository's examples, MNIST from $MNIST_DIR (scripts/fetch_mnist.sh)."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def examples():
    return ROOT / "examples"


@pytest.fixture(scope="session")
def mnist():
    path = pathlib.Path(os.environ.get("MNIST_DIR", ROOT / "data" / "mnist"))
    if not (path / "t10k-images-idx3-ubyte").exists():
        pytest.skip(f"no MNIST digits in {path} (scripts/fetch_mnist.sh)")
    return path
