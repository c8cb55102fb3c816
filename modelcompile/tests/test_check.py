"""The comparison with its tolerance, and running a worker (timeouts, errors) without an env:
the test's own python stands in for the env's."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from modelcompile import check, envs
from modelcompile.errors import CompileError
from tests.support.onnx_models import make_onnx


def reference(tmp_path, outputs, inputs=None):
    inputs = inputs or [np.ones((1, 3, 8, 8), np.float32)]
    arrays = {}
    for s in range(2):
        arrays.update({f"in.{s}.{i}": a for i, a in enumerate(inputs)})
        arrays.update({f"out.{s}.{i}": a for i, a in enumerate(outputs)})
    np.savez(tmp_path / "ref.npz", **arrays)
    return tmp_path / "ref.npz"


def test_within_tolerance_relative_to_the_outputs_scale(tmp_path):
    onnx = make_onnx(tmp_path / "m.onnx")  # relu(x) * 2 = 2 everywhere for ones
    ref = reference(tmp_path, [np.full((1, 3, 8, 8), 2.002, np.float32)])
    report = check.compare(onnx, ref, "FP32", ["data"], ["scores"])
    assert report["samples"] == 2
    assert report["tolerance"] == {"atol": 1e-6, "rtol": 1e-3}
    (out,) = report["outputs"]
    assert out["name"] == "scores" and out["shape"] == [1, 3, 8, 8]
    assert out["max_abs_diff"] == pytest.approx(0.002, abs=1e-6)
    assert out["allowed"] == pytest.approx(1e-6 + 1e-3 * 2.002)


def test_mismatch_names_the_output_difference_and_tolerance(tmp_path):
    onnx = make_onnx(tmp_path / "m.onnx")
    ref = reference(tmp_path, [np.full((1, 3, 8, 8), 2.5, np.float32)])
    with pytest.raises(CompileError) as caught:
        check.compare(onnx, ref, "FP32", ["data"], ["scores"])
    message = str(caught.value)
    assert "output 'scores' differs by up to 0.5" in message
    assert "tolerance 0.0025: atol 1e-06 + rtol 0.001" in message


def test_nan_where_the_original_has_none_fails(tmp_path):
    onnx = make_onnx(tmp_path / "m.onnx")
    want = np.full((1, 3, 8, 8), np.nan, np.float32)
    ref = reference(tmp_path, [want])
    with pytest.raises(CompileError, match="differs by up to inf"):
        check.compare(onnx, ref, "FP32", ["data"], ["scores"])


def test_shape_mismatch(tmp_path):
    onnx = make_onnx(tmp_path / "m.onnx")
    ref = reference(tmp_path, [np.zeros((1, 192), np.float32)])
    with pytest.raises(CompileError, match=r"has shape \[1, 3, 8, 8\] in the compiled model"):
        check.compare(onnx, ref, "FP32", ["data"], ["scores"])


@pytest.fixture
def fake_workers(tmp_path, monkeypatch):
    folder = tmp_path / "workers"
    folder.mkdir()
    monkeypatch.setattr(envs, "WORKERS_DIR", folder)
    return folder


def test_worker_result_and_user_error(tmp_path, fake_workers):
    (fake_workers / "ok.py").write_text(
        "import json, sys\njob = json.load(open(sys.argv[1]))\n"
        "json.dump({'echo': job['x'], 'isolated': sys.flags.isolated}, open(job['result'], 'w'))\n"
    )
    result = envs.run_worker("x", "ok", {"x": 7}, tmp_path / "w", python=sys.executable)
    assert result == {"echo": 7, "isolated": 1}
    (fake_workers / "bad.py").write_text(
        "import json, sys\njob = json.load(open(sys.argv[1]))\n"
        "json.dump({'error': 'input data is wrong'}, open(job['result'], 'w'))\nsys.exit(3)\n"
    )
    with pytest.raises(CompileError, match=r"^input data is wrong$"):
        envs.run_worker("x", "bad", {}, tmp_path / "w", python=sys.executable)


def test_worker_crash_shows_the_last_lines_only(tmp_path, fake_workers):
    (fake_workers / "crash.py").write_text(
        "import sys\nfor i in range(500):\n    print('noise', i, file=sys.stderr)\n"
        "raise SystemExit('converter exploded')\n"
    )
    with pytest.raises(CompileError) as caught:
        envs.run_worker("pytorch", "crash", {}, tmp_path / "w", python=sys.executable)
    message = str(caught.value)
    assert message.startswith("the pytorch converter failed (exit status 1)")
    assert message.endswith("converter exploded")
    assert "noise 490" in message and "noise 400" not in message


def test_worker_timeout(tmp_path, fake_workers):
    (fake_workers / "slow.py").write_text("import time\ntime.sleep(30)\n")
    with pytest.raises(CompileError, match="did not finish within 1 s"):
        envs.run_worker("mxnet", "slow", {}, tmp_path / "w", python=sys.executable, timeout_s=1)
