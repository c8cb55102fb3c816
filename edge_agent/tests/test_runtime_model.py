"""The model node: the real server process (``python -m edge_agent.runtime.modelserver``) running
real onnxruntime, called through ``ModelClient`` as panoramasdk calls it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from edge_agent.runtime import report
from edge_agent.runtime.modelwire import LineChannel, ModelClient
from tests.support import onnx_models as models
from tests.support.paths import BASE_DIR, MEDIA_DIR
from tests.support.waiting import wait_for

DETECTOR = MEDIA_DIR / "ssdlite_mobilenet_v2_person.onnx"
CLASSIFIER_INPUT = {"name": "data", "shape": [1, 3, 224, 224]}
# Far more loop trips than any test waits for: the inference runs until its process ends.
FOREVER = np.array([1 << 62], np.int64)


class ModelServerProcess:
    """One model server process, its status and metrics lines and its log, read as they come."""

    def __init__(self, folder: Path, node: str, archive: Path, inputs: list[dict], **extra: Any):
        self.runtime_dir = folder / "rt"
        self.runtime_dir.mkdir(exist_ok=True)
        self.node = node
        self.config = folder / f"{node}.json"
        document = {
            "node": node, "runtime_dir": str(self.runtime_dir), "socket": f"model-{node}.sock",
            "model_archive": str(archive), "inputs": inputs, "threads": 1,
            "metrics_interval_s": 0.2, **extra,
        }  # fmt: skip
        self.config.write_text(json.dumps(document))
        self.socket_path = self.runtime_dir / document["socket"]
        self.events: list[dict[str, Any]] = []
        self.log: list[str] = []
        self.process: subprocess.Popen | None = None
        self._readers: list[threading.Thread] = []

    def start(self) -> ModelServerProcess:
        self.events.clear()
        self.log.clear()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.runtime.modelserver", "--config", str(self.config)],
            cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        return self

    def _read(self, stream, is_stdout: bool) -> None:
        for line in stream:
            if is_stdout:
                event = report.parse(line)
                if event is not None:
                    self.events.append(event)
            else:
                self.log.append(line.rstrip("\n"))

    def statuses(self) -> list[dict[str, Any]]:
        return [e for e in self.events if "status" in e]

    def wait_status(self, state: str, timeout: float = 20) -> dict[str, Any]:
        def found():
            matching = [s for s in self.statuses() if s["status"] == state]
            if not matching and self.process.poll() is not None and state == "RUNNING":
                raise AssertionError(f"the server exited: {self.statuses()} {self.log}")
            return matching[-1] if matching else None

        return wait_for(found, timeout, f"status {state}", interval=0.02)

    def wait_exit(self, timeout: float = 20) -> int:
        wait_for(lambda: self.process.poll() is not None, timeout, "the server to exit", 0.02)
        # The readers may still be on the last lines; they end at the pipes' end.
        for reader in self._readers:
            reader.join(timeout=5)
        return self.process.returncode

    def metrics(self) -> list[dict[str, Any]]:
        return [e["metrics"] for e in self.events if "metrics" in e]

    def client(self) -> ModelClient:
        return ModelClient(self.socket_path, self.runtime_dir, self.node)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def servers():
    started: list[ModelServerProcess] = []

    def make(folder: Path, node: str, archive: Path, inputs: list[dict], **extra: Any):
        server = ModelServerProcess(folder, node, archive, inputs, **extra)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def classifier_archive(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("classifier")
    return models.make_archive(folder / "squeezenet.tar.gz", models.classifier())


@pytest.fixture(scope="module")
def classifier_server(tmp_path_factory, classifier_archive):
    server = ModelServerProcess(
        tmp_path_factory.mktemp("classifier-node"), "classifier", classifier_archive,
        [CLASSIFIER_INPUT], workers=2,
    ).start()  # fmt: skip
    server.wait_status("RUNNING")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def counter_archive(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("counter")
    return models.make_archive(folder / "counter.tar.gz", models.counter())


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 3, 224, 224), dtype=np.float32)


def first_frame_rgb() -> np.ndarray:
    with av.open(str(MEDIA_DIR / "pedestrians.mp4")) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")


# --- results --------------------------------------------------------------------------------
def test_classifier_results_equal_numpy(classifier_server):
    status = classifier_server.wait_status("RUNNING")
    assert status["message"] == "CPUExecutionProvider, FP32, 1 thread, up to 2 inferences at once"
    data = image(1)
    with classifier_server.client() as client:
        scores, pooled = client.call({"data": data})
        want_scores, want_pooled = models.classifier_reference(data)
        assert scores.shape == (1, 1000) and scores.dtype == np.float32
        np.testing.assert_allclose(pooled, want_pooled, rtol=1e-5)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-4)
        # The caller owns the results: the next call does not change them.
        kept = scores.copy()
        scores[0, 0] = 12345.0
        again = client.call(image(2), timeout=10)  # one input: a bare array is enough
        np.testing.assert_allclose(again[0], models.classifier_reference(image(2))[0], rtol=1e-4)
        assert scores[0, 0] == 12345.0 and not np.array_equal(kept, again[0])
        # float64 is cast to the model's float32.
        as_double = client.call({"data": data.astype(np.float64)})
        np.testing.assert_allclose(as_double[0], want_scores, rtol=1e-4, atol=1e-4)

    metrics = wait_for(
        lambda: [m for m in classifier_server.metrics() if m["calls"] >= 3],
        10, "metrics that count the calls", 0.05,
    )[-1]  # fmt: skip
    assert metrics["providers"] == ["CPUExecutionProvider"]
    assert metrics["errors"] == 0
    assert any(m["inference_ms_p50"] is not None for m in classifier_server.metrics())


# Real descriptors often leave the type out: the model's own (uint8 here) applies then.
@pytest.mark.parametrize("typed", [{"type": "uint8"}, {}], ids=["typed", "untyped"])
def test_person_detector_finds_people(servers, tmp_path, typed):
    # A bare .onnx is accepted, and the descriptor's "image_tensor" is the model's
    # "image_tensor:0".
    inputs = [{"name": "image_tensor", "shape": [1, 300, 300, 3], **typed}]
    server = servers(tmp_path, "detector", DETECTOR, inputs)
    server.wait_status("RUNNING")
    frame = cv2.resize(first_frame_rgb(), (300, 300))[np.newaxis]
    with server.client() as client:
        boxes, classes, scores, count = client.call({"image_tensor": frame}, timeout=20)
    assert boxes.shape == (1, 100, 4) and scores.shape == (1, 100) and count.shape == (1,)
    people = scores[0] >= 0.5
    assert people.sum() >= 1
    assert (classes[0][people] == 1).all()

    import onnxruntime as ort

    session = ort.InferenceSession(str(DETECTOR), providers=["CPUExecutionProvider"])
    direct = session.run(None, {"image_tensor:0": frame})
    for got, want in zip((boxes, classes, scores, count), direct, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_tensors_never_cross_the_socket(servers, tmp_path):
    archive = models.make_archive(tmp_path / "detector.tar.gz", DETECTOR.read_bytes())
    inputs = [{"name": "image_tensor", "shape": [1, 1080, 1920, 3], "type": "uint8"}]
    server = servers(tmp_path, "detector", archive, inputs)
    server.wait_status("RUNNING")
    frame = cv2.resize(first_frame_rgb(), (1920, 1080))[np.newaxis]
    assert frame.nbytes > 6_000_000
    calls = 3
    with server.client() as client:
        for _ in range(calls):
            scores = client.call({"image_tensor": frame}, timeout=30)[2]
            assert (scores[0] >= 0.5).sum() >= 1
    latest = wait_for(
        lambda: [m for m in server.metrics() if m["calls"] >= calls], 10, "metrics", 0.05
    )[-1]
    assert latest["calls"] == calls
    assert 0 < latest["wire_bytes"] < 4096 * calls


# --- errors at startup ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, message",
    [
        ("not-tar", "is not a .tar.gz archive"),
        ("no-onnx", "holds no .onnx model"),
        ("several", "holds several .onnx models (a.onnx, b.onnx)"),
        ("broken", "fails to load"),
    ],
)
def test_bad_archive_is_a_startup_error(servers, tmp_path, kind, message):
    archive = tmp_path / "model.tar.gz"
    if kind == "not-tar":
        archive.write_bytes(b"this is not an archive at all" * 100)
    elif kind == "no-onnx":
        models.make_archive(archive, None, {"README.txt": b"weights elsewhere"})
    elif kind == "several":
        model = models.classifier()
        models.make_archive(archive, None, {"a.onnx": model, "b.onnx": model})
    else:
        models.make_archive(archive, b"\x08\x07 definitely not a protobuf model")
    server = servers(tmp_path, "broken", archive, [CLASSIFIER_INPUT])
    assert server.wait_exit() == 2
    statuses = server.statuses()
    assert [s["status"] for s in statuses] == ["ERROR"]
    assert message in statuses[0]["message"]
    assert any(line.startswith("ERROR ") and message in line for line in server.log)
    assert not server.socket_path.exists()


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            {"name": "input0", "shape": [1, 3, 224, 224]},
            ["descriptor input 'input0' is not an input of the model", "data (float32"],
        ),
        (
            {"name": "data", "shape": [1, 3, 300, 300]},
            ["input 'data': the descriptor says shape [1, 3, 300, 300], "
             "the model says [1, 3, 224, 224]"],
        ),
        (
            {"name": "data", "shape": [1, 3, 224, 224], "type": "uint8"},
            ["input 'data': the descriptor says type uint8, the model says float32"],
        ),
    ],
)  # fmt: skip
def test_descriptor_mismatch_is_a_startup_error(
    servers, tmp_path, classifier_archive, spec, expected
):
    server = servers(tmp_path, "classifier", classifier_archive, [spec])
    assert server.wait_exit() == 2
    (status,) = server.statuses()
    assert status["status"] == "ERROR"
    for fragment in expected:
        assert fragment in status["message"]


# --- errors in calls --------------------------------------------------------------------------
def test_call_validation_errors(classifier_server):
    good = image(3)
    with classifier_server.client() as client:
        with pytest.raises(ValueError, match=r"has no input 'image'; its inputs: data \(float32"):
            client.call({"image": good})
        with pytest.raises(ValueError, match=r"input 'data' .* is missing"):
            client.call({})
        with pytest.raises(
            ValueError,
            match=r"input 'data' of model node classifier must be float32 \[1, 3, 224, 224\]; "
            r"given float32 \[1, 3, 112, 112\]",
        ):
            client.call({"data": good[:, :, :112, :112]})
        with pytest.raises(ValueError, match=r"given complex64 .*only numeric arrays"):
            client.call({"data": good.astype(np.complex64)})
        with pytest.raises(ValueError, match="must be a numpy array"):
            client.call({"data": good.tolist()})
        # The connection is still in step after refusals.
        np.testing.assert_allclose(
            client.call({"data": good})[1], models.classifier_reference(good)[1], rtol=1e-5
        )


def test_call_converts_as_panoramas_dlr_did_and_says_so_once(classifier_server, caplog):
    good = image(3)
    expected = models.classifier_reference(good)[1]
    with classifier_server.client() as client, caplog.at_level("WARNING", "panoramasdk"):
        # Unbatched, as a published sample passes it: the same elements, reshaped.
        np.testing.assert_allclose(client.call({"data": good[0]})[1], expected, rtol=1e-5)
        np.testing.assert_allclose(client.call({"data": good[0]})[1], expected, rtol=1e-5)
        # Flat, and of another numeric type: cast as DLR's set_input did.
        pixels = np.round(good * 10).astype(np.int32)
        flat = client.call({"data": pixels.reshape(-1)})[1]
        np.testing.assert_allclose(
            flat, models.classifier_reference(pixels.astype(np.float32))[1], rtol=1e-5
        )
    messages = [r.getMessage() for r in caplog.records if r.name == "panoramasdk"]
    assert messages == [
        "input 'data' of model node classifier: given float32 [3, 224, 224], converted to "
        "float32 [1, 3, 224, 224], as Panorama did (pass float32 [1, 3, 224, 224] to avoid it)"
    ]  # once per input, not once per call


def test_server_checks_requests_itself(classifier_server):
    """The server does not trust the client: a request it is sent by hand is checked too."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(classifier_server.socket_path))
        channel = LineChannel(sock)
        tensor = {"name": "data", "dtype": "int32", "shape": [1, 3, 224, 224], "offset": 0}
        channel.send({"op": "run", "buffer": ".mw-none", "inputs": [tensor]})
        reply = channel.receive(deadline=None)
        assert reply["ok"] is False and reply["error"]["type"] == "ValueError"
        assert "must be float32 [1, 3, 224, 224]; given int32" in reply["error"]["message"]
        tensor["dtype"] = "float32"
        channel.send({"op": "run", "buffer": "../../etc/passwd", "inputs": [tensor]})
        reply = channel.receive(deadline=None)
        assert reply["error"]["type"] == "ProtocolError"
        assert "is not a buffer name" in reply["error"]["message"]
        assert channel.receive(deadline=None) is None  # and it hangs up


def test_concurrent_callers_get_their_own_answers(classifier_server):
    failures: list[str] = []
    client = classifier_server.client()

    def caller(seed: int) -> None:
        for round_ in range(8):
            data = image(seed * 100 + round_)
            _scores, pooled = client.call({"data": data}, timeout=20)
            if not np.allclose(pooled, models.classifier_reference(data)[1], rtol=1e-5):
                failures.append(f"thread {seed} round {round_}")

    # Another process calls at the same time, with its own client.
    script = textwrap.dedent(f"""
        import numpy as np
        from pathlib import Path
        from edge_agent.runtime.modelwire import ModelClient
        from tests.support import onnx_models as models
        client = ModelClient(Path({str(classifier_server.socket_path)!r}),
                             Path({str(classifier_server.runtime_dir)!r}), "classifier")
        for seed in range(500, 510):
            data = np.random.default_rng(seed).random((1, 3, 224, 224), dtype=np.float32)
            pooled = client.call({{"data": data}}, timeout=20)[1]
            assert np.allclose(pooled, models.classifier_reference(data)[1], rtol=1e-5), seed
        client.close()
        print("OK")
    """)
    other = subprocess.Popen(
        [sys.executable, "-c", script], cwd=BASE_DIR, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    threads = [threading.Thread(target=caller, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    output, _ = other.communicate(timeout=60)
    client.close()
    assert not failures
    assert other.returncode == 0 and "OK" in output, output
    # Closed clients leave no buffers behind, and the server drops its own for them.
    assert not list(classifier_server.runtime_dir.glob(".mw-in-*"))
    wait_for(
        lambda: not list(classifier_server.runtime_dir.glob(".mw-out-*")),
        10, "the server to remove its buffers", 0.05,
    )  # fmt: skip


def test_server_killed_then_restarted(servers, tmp_path, classifier_archive):
    server = servers(tmp_path, "classifier", classifier_archive, [CLASSIFIER_INPUT])
    server.wait_status("RUNNING")
    client = server.client()
    data = image(4)
    want = models.classifier_reference(data)[1]
    np.testing.assert_allclose(client.call({"data": data})[1], want, rtol=1e-5)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    with pytest.raises(ConnectionError, match="model node classifier is not running"):
        client.call({"data": data}, timeout=5)
    server.start().wait_status("RUNNING")
    np.testing.assert_allclose(client.call({"data": data}, timeout=10)[1], want, rtol=1e-5)
    # Restarted between two calls: the idle connection is dead, and the call takes a new one.
    server.stop()
    server.start().wait_status("RUNNING")
    np.testing.assert_allclose(client.call({"data": data}, timeout=10)[1], want, rtol=1e-5)
    client.close()


def test_server_never_started(tmp_path):
    client = ModelClient(tmp_path / "model-absent.sock", tmp_path, "absent")
    with pytest.raises(ConnectionError, match="model node absent is not running"):
        client.call(np.zeros(1, np.float32))


def test_timeout_drops_the_connection(servers, tmp_path, counter_archive):
    inputs = [{"name": "n", "shape": [1], "type": "int64"}]
    server = servers(tmp_path, "counter", counter_archive, inputs, workers=2, hang_s=60)
    server.wait_status("RUNNING")
    with server.client() as client:
        assert client.call({"n": np.array([5], np.int64)})[0] == 5.0
        with pytest.raises(TimeoutError, match=r"model node counter gave no answer within 0\.3 s"):
            client.call({"n": FOREVER}, timeout=0.3)
        # The next call gets its own answer, on another connection, while the first one runs on.
        (count,) = client.call({"n": np.array([7], np.int64)}, timeout=10)
        assert count.item() == 7.0


def test_watchdog_ends_a_hung_inference(servers, tmp_path, counter_archive):
    inputs = [{"name": "n", "shape": [1], "type": "int64"}]
    server = servers(tmp_path, "counter", counter_archive, inputs, hang_s=1)
    server.wait_status("RUNNING")
    with server.client() as client, pytest.raises(ConnectionError, match="is not running"):
        # Far longer than hang_s: what ends the wait is the server closing the connection.
        client.call({"n": FOREVER}, timeout=30)
    assert server.wait_exit() == 3
    message = "an inference ran longer than 1 s and was abandoned"
    assert server.statuses()[-1] == {"status": "ERROR", "message": message}
    assert f"ERROR {message}" in server.log
    assert not server.socket_path.exists()


def test_fp16_on_cpu_warns_and_runs_fp32(servers, tmp_path, classifier_archive):
    server = servers(
        tmp_path, "classifier", classifier_archive, [CLASSIFIER_INPUT], precision="FP16"
    )
    status = server.wait_status("RUNNING")
    assert status["message"] == "CPUExecutionProvider, FP32, 1 thread"
    warnings = [line for line in server.log if line.startswith("WARNING ")]
    assert len(warnings) == 1 and "FP16" in warnings[0] and "FP32" in warnings[0]
    data = image(5)
    with server.client() as client:
        scores = client.call({"data": data})[0]
    np.testing.assert_allclose(scores, models.classifier_reference(data)[0], rtol=1e-4, atol=1e-4)
    assert os.path.exists(server.socket_path)


def test_sigterm_stops_even_during_an_inference(servers, tmp_path, counter_archive):
    inputs = [{"name": "n", "shape": [1], "type": "int64"}]
    server = servers(tmp_path, "counter", counter_archive, inputs)
    server.wait_status("RUNNING")
    client = server.client()
    outcome: list[BaseException] = []

    def hung_call() -> None:
        try:
            client.call({"n": FOREVER}, timeout=30)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=hung_call)
    caller.start()
    wait_for(lambda: any(m["calls"] for m in server.metrics()), 10, "the call to arrive", 0.02)
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    caller.join(timeout=10)
    assert isinstance(outcome[0], ConnectionError)
    client.close()
    assert not server.socket_path.exists()
    assert not list(server.runtime_dir.glob(".mw-*"))
