"""Compiling models of each framework in its converter env: the ONNX is checked, and runs
like the framework's model; and the errors an operator meets with real uploads. These need
the envs (``python -m modelcompile install``; the fixtures install them once when missing)."""

from __future__ import annotations

import tarfile

import numpy as np
import onnxruntime as ort
import pytest

from edge_agent.runtime import modelload
from edge_agent.runtime.records import TensorSpec
from modelcompile import CompileError, InputDecl, compile_model, testing

pytestmark = pytest.mark.slow


def compiled(tmp_path, make, **overrides):
    archive, descriptor = make(tmp_path / "upload")
    body = descriptor["mlModelDescriptor"]
    steps: list[str] = []
    result = compile_model(
        archive, framework=body["framework"],
        inputs=overrides.get("inputs", testing.inputs_of(descriptor)),
        work_dir=tmp_path / "work", precision=body.get("precisionMode", "FP32"),
        progress=steps.append,
    )  # fmt: skip
    with tarfile.open(result.archive) as tar:
        assert tar.getnames() == ["model.onnx"]
    assert result.check["samples"] == 3
    assert result.check["max_abs_diff"] <= max(o["allowed"] for o in result.check["outputs"])
    # What an appliance does with it: unpack the one .onnx, match the descriptor's inputs.
    onnx = modelload.unpack(result.archive, tmp_path / "appliance")
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    specs = [
        TensorSpec(name=i["name"], shape=i["shape"], type=i.get("type")) for i in body["inputs"]
    ]
    matched = modelload.match_inputs(specs, sess.get_inputs())
    assert [spec.name for spec, _ in matched] == [i.name for i in result.inputs]
    return result, steps


def run(result, **feed):
    sess = ort.InferenceSession(str(result.onnx), providers=["CPUExecutionProvider"])
    return {o.name: v for o, v in zip(sess.get_outputs(), sess.run(None, feed), strict=True)}


def test_torchscript_classifier(tmp_path, pytorch_env):
    result, steps = compiled(tmp_path, testing.make_torch_classifier)
    assert result.framework == "PYTORCH" and result.precision == "FP32"
    assert result.inputs == [InputDecl("data", [1, 3, 224, 224], "float32")]
    assert [o["name"] for o in result.check["outputs"]] == ["output0"]
    assert result.check["outputs"][0]["shape"] == [1, 1000]
    assert any("TorchScript model squeezenet.pth" in s for s in steps)
    probs = run(result, data=np.random.default_rng(5).standard_normal((1, 3, 224, 224), np.float32))
    assert probs["output0"].shape == (1, 1000)
    assert probs["output0"].sum() == pytest.approx(1.0, abs=1e-4)


def test_tensorflow_ssd_saved_model_takes_the_models_uint8(tmp_path, tensorflow_env):
    result, steps = compiled(tmp_path, testing.make_tf_detector)
    # The descriptor gives no type: the compile took the model's own.
    assert result.inputs == [InputDecl("image_tensor", [1, 300, 300, 3], "uint8")]
    shapes = {o["name"]: o["shape"] for o in result.check["outputs"]}
    assert shapes == {
        "detection_boxes": [1, 10, 4], "detection_classes": [1, 10],
        "detection_scores": [1, 10], "num_detections": [1],
    }  # fmt: skip
    assert any("SavedModel ssd_mobilenet_v2/saved_model/" in s for s in steps)
    out = run(result, image_tensor=np.full((1, 300, 300, 3), 128, np.uint8))
    assert ((out["detection_boxes"] >= 0) & (out["detection_boxes"] <= 1)).all()


def test_tensorflow_frozen_graph(tmp_path, tensorflow_env):
    result, _ = compiled(tmp_path, testing.make_tf_frozen_detector)
    assert result.inputs == [InputDecl("image_tensor", [1, 300, 300, 3], "uint8")]
    assert len(result.check["outputs"]) == 4


def test_mxnet_two_outputs(tmp_path, mxnet_env):
    result, steps = compiled(tmp_path, testing.make_mxnet_two_outputs)
    assert result.precision == "FP16"  # the ONNX is FP32; TensorRT on the appliance does FP16
    assert result.inputs == [InputDecl("data", [1, 3, 128, 128], "float32")]
    assert [o["shape"] for o in result.check["outputs"]] == [[1, 10], [1, 4]]
    assert any("MXNet model model/two_outputs-symbol.json, epoch 0" in s for s in steps)
    # Only the data input: the exporter's weights-as-inputs are gone (the appliance would
    # take them for inputs the descriptor lacks).
    sess = ort.InferenceSession(str(result.onnx), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["data"]


def test_eager_pickle_says_to_save_torchscript(tmp_path, pytorch_env):
    archive, descriptor = testing.make_torch_eager_pickle(tmp_path)
    with pytest.raises(CompileError) as caught:
        compile_model(
            archive, framework="PYTORCH", inputs=testing.inputs_of(descriptor),
            work_dir=tmp_path / "work",
        )  # fmt: skip
    message = str(caught.value)
    assert "squeezenet.pth is a pickled PyTorch model (torch.save" in message
    assert "torch.jit.trace(model, example_input).save('squeezenet.pth')" in message


def test_tensorflow_wrong_input_name_lists_the_models_inputs(tmp_path, tensorflow_env):
    archive, _ = testing.make_tf_detector(tmp_path)
    with pytest.raises(CompileError) as caught:
        compile_model(
            archive, framework="TENSORFLOW", inputs=[InputDecl("images", [1, 300, 300, 3])],
            work_dir=tmp_path / "work",
        )  # fmt: skip
    assert str(caught.value) == (
        "descriptor input 'images' is not an input of the model (the model's inputs: "
        "image_tensor (uint8)); fix the names in the descriptor"
    )


def test_tensorflow_type_mismatch(tmp_path, tensorflow_env):
    archive, _ = testing.make_tf_detector(tmp_path)
    with pytest.raises(CompileError, match="says type float32, the model says uint8; give uint8"):
        compile_model(
            archive, framework="TENSORFLOW",
            inputs=[InputDecl("image_tensor", [1, 300, 300, 3], "float32")],
            work_dir=tmp_path / "work",
        )  # fmt: skip


def test_mxnet_wrong_input_name(tmp_path, mxnet_env):
    archive, _ = testing.make_mxnet_two_outputs(tmp_path)
    with pytest.raises(CompileError, match=r"'input0' is not an input .* inputs: data \(float32\)"):
        compile_model(
            archive, framework="MXNET", inputs=[InputDecl("input0", [1, 3, 128, 128])],
            work_dir=tmp_path / "work",
        )  # fmt: skip


def test_torch_wrong_shape_says_what_to_check(tmp_path, pytorch_env):
    archive, _ = testing.make_torch_classifier(tmp_path)
    expected = r"fails on the descriptor's inputs \(data float32 \[1, 224, 224\]\): .*4-dim"
    with pytest.raises(CompileError, match=expected):
        compile_model(
            archive, framework="PYTORCH", inputs=[InputDecl("data", [1, 224, 224])],
            work_dir=tmp_path / "work",
        )  # fmt: skip
