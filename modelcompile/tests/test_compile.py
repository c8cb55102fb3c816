"""compile_model without a converter env: ONNX uploads, the descriptor against the model, the
errors before any conversion, the cache key, and env discovery."""

from __future__ import annotations

import re
import sys
import tarfile

import numpy as np
import pytest

from modelcompile import (
    COMPILER_VERSION,
    CompileError,
    FrameworkMissing,
    InputDecl,
    cache_key,
    compile_model,
    envs,
    framework_available,
)
from tests.support.onnx_models import make_onnx


def packed(tmp_path, onnx, name="model.tar.gz", arcname="export/model.onnx"):
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        tar.add(onnx, arcname=arcname)
    return path


def test_onnx_passes_through_checked_and_repacked(tmp_path):
    source = packed(tmp_path, make_onnx(tmp_path / "src.onnx", dtype="uint8"))
    seen = []
    result = compile_model(
        source, framework="onnx", inputs=[InputDecl("data", [1, 3, 8, 8])],
        work_dir=tmp_path / "work", progress=seen.append,
    )  # fmt: skip
    assert result.framework == "ONNX" and result.precision == "FP32"
    assert result.inputs == [InputDecl("data", [1, 3, 8, 8], "uint8")]  # the model's type
    assert result.onnx.read_bytes() == (tmp_path / "src.onnx").read_bytes()
    with tarfile.open(result.archive) as tar:
        assert tar.getnames() == ["model.onnx"]
    assert result.check["samples"] == 3
    assert result.check["outputs"] == [
        {"name": "scores", "shape": [1, 3, 8, 8], "max_abs_diff": 0.0}
    ]
    assert seen[0] == "unpacking model.tar.gz" and seen[-1].startswith("compiled: model.tar.gz")
    assert not (tmp_path / "work" / "unpacked").exists()
    # What the appliance does with it: one .onnx, which runs.
    import onnxruntime as ort

    sess = ort.InferenceSession(str(result.onnx), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"data": np.full((1, 3, 8, 8), 3, np.uint8)})[0]
    assert out.max() == 6.0


def test_bare_onnx_file_is_accepted(tmp_path):
    onnx = make_onnx(tmp_path / "people.onnx")
    result = compile_model(
        onnx, framework="ONNX", inputs=[InputDecl("data", [1, 3, 8, 8], "float32")],
        work_dir=tmp_path / "work", precision="fp16",
    )  # fmt: skip
    assert result.precision == "FP16" and result.inputs[0].type == "float32"


def test_wrong_input_name_names_the_models_inputs(tmp_path):
    source = packed(tmp_path, make_onnx(tmp_path / "src.onnx"))
    with pytest.raises(CompileError) as caught:
        compile_model(
            source, framework="ONNX", inputs=[InputDecl("input0", [1, 3, 8, 8])],
            work_dir=tmp_path / "work",
        )  # fmt: skip
    message = str(caught.value)
    assert "descriptor input 'input0' is not an input of the model" in message
    assert "the model's inputs: data (float32 [1, 3, 8, 8])" in message
    assert "model input 'data' (float32) is not in the descriptor" in message


@pytest.mark.parametrize(
    ("decl", "expected"),
    [
        (
            InputDecl("data", [1, 3, 8, 8], "uint8"),
            "the descriptor says type uint8, the model says float32",
        ),
        (
            InputDecl("data", [1, 3, 9, 9]),
            "the descriptor says shape [1, 3, 9, 9], the model says [1, 3, 8, 8]",
        ),
    ],
)  # fmt: skip
def test_type_and_shape_mismatches(tmp_path, decl, expected):
    source = packed(tmp_path, make_onnx(tmp_path / "src.onnx"))
    with pytest.raises(CompileError, match=re.escape(expected)):
        compile_model(source, framework="ONNX", inputs=[decl], work_dir=tmp_path / "work")
    # Nothing that failed its check is left where a compiled model would be.
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == []


def test_errors_before_any_conversion(tmp_path):
    source = packed(tmp_path, make_onnx(tmp_path / "src.onnx"))
    decl = [InputDecl("data", [1, 3, 8, 8])]
    with pytest.raises(CompileError, match="INT8 is made from the FP32 model with calibration"):
        compile_model(source, framework="ONNX", inputs=decl, work_dir=tmp_path, precision="INT8")
    with pytest.raises(CompileError, match="unknown precision 'FP64'"):
        compile_model(source, framework="ONNX", inputs=decl, work_dir=tmp_path, precision="FP64")
    with pytest.raises(CompileError, match="unknown model framework 'KERAS'"):
        compile_model(source, framework="KERAS", inputs=decl, work_dir=tmp_path)
    with pytest.raises(CompileError, match="declares no inputs"):
        compile_model(source, framework="ONNX", inputs=[], work_dir=tmp_path)
    with pytest.raises(CompileError, match="holds no ONNX model"):
        compile_model(
            packed(tmp_path, tmp_path / "src.onnx", "x.tar.gz", "model.bin"), framework="ONNX",
            inputs=decl, work_dir=tmp_path,
        )  # fmt: skip


def test_corrupted_archive(tmp_path):
    broken = tmp_path / "model.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage" * 50)
    with pytest.raises(CompileError, match=r"model\.tar\.gz is not a readable \.tar\.gz archive"):
        compile_model(
            broken, framework="ONNX", inputs=[InputDecl("data", [1])], work_dir=tmp_path / "w"
        )


def test_path_escape_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(make_onnx(tmp_path / "src.onnx"), arcname="../../model.onnx")
    with pytest.raises(CompileError, match=re.escape("unsafe: '../../model.onnx' points outside")):
        compile_model(
            evil, framework="ONNX", inputs=[InputDecl("data", [1, 3, 8, 8])],
            work_dir=tmp_path / "a" / "b",
        )  # fmt: skip
    assert not (tmp_path / "a" / "model.onnx").exists()


@pytest.mark.parametrize("framework", ["PYTORCH", "TENSORFLOW", "MXNET"])
def test_missing_env_names_the_install_command_and_installs_nothing(
    tmp_path, monkeypatch, framework
):
    monkeypatch.setenv("VANTAGE_COMPILER_HOME", str(tmp_path / "empty"))

    def no_install(*_args, **_kwargs):
        raise AssertionError("a compile must never install an env")

    monkeypatch.setattr(envs, "install", no_install)
    env = envs.ENV_OF[framework]
    command = f"{sys.executable} -m modelcompile install {env}"
    reason = framework_available(framework.lower())
    assert reason is not None and command in reason
    with pytest.raises(FrameworkMissing) as caught:
        compile_model(
            tmp_path / "never-opened.tar.gz", framework=framework,
            inputs=[InputDecl("data", [1, 3, 224, 224])], work_dir=tmp_path / "work",
        )  # fmt: skip
    assert caught.value.framework == framework and caught.value.command == command
    assert f"cannot compile {framework} models" in str(caught.value)
    assert str(caught.value).endswith(f"Install it with: {command}")
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").iterdir())


def test_framework_available_for_onnx_and_unknown():
    assert framework_available("ONNX") is None
    assert "unknown model framework 'CAFFE'" in framework_available("CAFFE")


def test_cache_key():
    sha = "ab" * 32
    key = cache_key(sha, "FP32")
    assert len(key) == 64 and key == cache_key(sha.upper(), "fp32")
    assert key != cache_key(sha, "FP16") and key != cache_key("cd" * 32, "FP32")
    assert COMPILER_VERSION.startswith("1+")


def test_non_onnx_shapes_must_be_concrete(tmp_path, monkeypatch):
    monkeypatch.setattr(envs, "require_env", lambda framework: "pytorch")
    with pytest.raises(CompileError, match=r"shape \[-1, 3, 224, 224\] has a dimension of 0"):
        compile_model(
            tmp_path / "m.tar.gz", framework="PYTORCH",
            inputs=[InputDecl("data", [-1, 3, 224, 224])], work_dir=tmp_path,
        )  # fmt: skip
