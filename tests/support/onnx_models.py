"""Small ONNX models for the model-node tests, built with the ``onnx`` package, and the archives
that a model asset comes in."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8  # what onnxruntime reads everywhere; onnx's default may be newer


def _model(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


# --- a SqueezeNet-shaped classifier -------------------------------------------------------------
CLASSES = 1000


def classifier_weights(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((3, CLASSES)).astype(np.float32)
    bias = rng.standard_normal(CLASSES).astype(np.float32)
    return weights, bias


def classifier() -> bytes:
    """Input ``data`` float32 [1,3,224,224]. Two outputs, in this order: ``scores`` [1,1000]
    (the channel means times fixed weights, plus a bias) and ``pooled`` [1,3] (the channel
    means)."""
    weights, bias = classifier_weights()
    nodes = [
        helper.make_node("GlobalAveragePool", ["data"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["pooled"], axis=1),
        helper.make_node("MatMul", ["pooled", "weights"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 224, 224])],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, CLASSES]),
            helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 3]),
        ],
        initializer=[
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    return _model(graph)


def classifier_reference(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ``classifier()`` computes, in numpy."""
    weights, bias = classifier_weights()
    pooled = data.astype(np.float32).mean(axis=(2, 3))
    return pooled @ weights + bias, pooled


# --- a counter that can be told to run (nearly) forever ----------------------------------------
def counter() -> bytes:
    """Input ``n`` int64 [1]. Output ``count`` float32: 1.0 added ``n`` times in a Loop. With a
    huge ``n``, the inference runs for as long as anyone waits, which is what the watchdog needs.
    """
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["total_in", "one"], ["total_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("total_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("total_out", TensorProto.FLOAT, []),
        ],
        initializer=[numpy_helper.from_array(np.array(1.0, np.float32), "one")],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Squeeze", ["n", "axis0"], ["trips"]),
            helper.make_node("Loop", ["trips", "true", "zero"], ["count"], body=body),
        ],
        "counter",
        [helper.make_tensor_value_info("n", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("count", TensorProto.FLOAT, [])],
        initializer=[
            numpy_helper.from_array(np.array([0], np.int64), "axis0"),
            numpy_helper.from_array(np.array(True), "true"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        ],
    )
    return _model(graph)


# --- archives ---------------------------------------------------------------------------------
def make_archive(path: Path, model_bytes: bytes | None, files: dict[str, bytes] | None = None):
    """A model asset as Panorama packs one: a .tar.gz holding ``model.onnx`` (when
    ``model_bytes`` is given) and any ``files`` (name → content) beside it. Returns ``path``."""
    members = dict(files or {})
    if model_bytes is not None:
        members["model.onnx"] = model_bytes
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return path


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
