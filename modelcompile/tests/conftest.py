"""The converter envs, installed once per session (cached under the compiler home across
runs; ``./vantage test`` builds them first), and small ONNX models."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcompile import envs


def _env(name: str) -> str:
    # Installs only when missing (minutes the first time); a failure fails the tests that need
    # it, loudly, instead of skipping them.
    envs.install(name, progress=lambda message: print(f"[modelcompile] {message}"))
    return name


@pytest.fixture(scope="session")
def pytorch_env() -> str:
    return _env("pytorch")


@pytest.fixture(scope="session")
def tensorflow_env() -> str:
    return _env("tensorflow")


@pytest.fixture(scope="session")
def mxnet_env() -> str:
    return _env("mxnet")


def make_onnx(path: Path, name: str = "data", dtype: str = "float32", shape=(1, 3, 8, 8)) -> Path:
    """A one-op ONNX model (``y = relu(x) * 2``) with one input and one output."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = {"float32": TensorProto.FLOAT, "uint8": TensorProto.UINT8}[dtype]
    two = numpy_helper.from_array(np.array(2, dtype=np.float32), "two")
    nodes = (
        [helper.make_node("Cast", [name], ["x"], to=TensorProto.FLOAT)]
        if dtype != "float32"
        else []
    )
    source = "x" if nodes else name
    nodes += [
        helper.make_node("Relu", [source], ["r"]),
        helper.make_node("Mul", ["r", "two"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info(name, elem, list(shape))],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, list(shape))], [two],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path
