"""``node.call()`` against real model server processes (stand-in ONNX models)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

import panoramasdk
from edge_agent.runtime.config import ModelRef
from tests.support import onnx_models as models
from tests.support.runtime import Runtime, tensor
from tests.support.sdk import frame, sample_config

DATA = tensor("data", [1, 3, 224, 224])
COUNT = tensor("n", [1], "int64")
FOREVER = np.array([1 << 62], np.int64)  # the counter model loops (nearly) forever on this


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> Iterator[Runtime]:
    """One runtime for the module, with a classifier (``model_node``, as the sample names it)
    and a counter that can be made to run as long as a test needs (``slow_node``)."""
    folder = tmp_path_factory.mktemp("models")
    with Runtime() as runtime:
        classifier = runtime.start_model_server(
            "model_node", models.make_archive(folder / "squeezenet.tar.gz", models.classifier()),
            [DATA], workers=2,
        )  # fmt: skip
        counter = runtime.start_model_server(
            "slow_node", models.make_archive(folder / "counter.tar.gz", models.counter()),
            [COUNT], workers=4, threads=1, hang_s=120,
        )  # fmt: skip
        classifier.wait_for_status("RUNNING")
        counter.wait_for_status("RUNNING")
        yield runtime


@pytest.fixture
def node(node_env, runtime):
    config = sample_config(runtime)
    config.models["slow_node"] = ModelRef(socket="model-slow_node.sock", inputs=[COUNT])
    node_env(config)
    return panoramasdk.node()


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 3, 224, 224), dtype=np.float32)


def assert_classified(result, data: np.ndarray) -> None:
    assert isinstance(result, tuple) and len(result) == 2
    scores, pooled = models.classifier_reference(data)
    np.testing.assert_allclose(result[0], scores, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(result[1], pooled, rtol=1e-5, atol=1e-6)
    assert result[0].shape == (1, 1000)


def test_both_argument_orders_and_keywords(node):
    data = image(1)
    assert_classified(node.call({"data": data}, "model_node"), data)  # as the samples write it
    assert_classified(node.call("model_node", {"data": data}), data)  # as the reference words it
    assert_classified(node.call({"data": data}, "model_node", 10), data)
    assert_classified(node.call("model_node", {"data": data}, time_out=10), data)
    assert_classified(node.call(input={"data": data}, name="model_node"), data)
    assert_classified(node.call({"data": data}, name="model_node"), data)
    assert_classified(node.call(data, "model_node"), data)  # a bare array: the one input


def test_a_subclass_calls_through_self(node_env, runtime):
    node_env(sample_config(runtime))

    class Application(panoramasdk.node):
        def __init__(self):
            self.MODEL_NODE = "model_node"

        def infer(self, x):
            return self.call({"data": x}, self.MODEL_NODE)

    data = image(2)
    probabilities = Application().infer(data)[0][0]
    assert probabilities.shape == (1000,)
    assert int(probabilities.argmax()) == int(models.classifier_reference(data)[0][0].argmax())


def test_input_errors_come_back_as_value_errors(node):
    with pytest.raises(ValueError, match=r"must be float32 \[1, 3, 224, 224\]"):
        node.call({"data": np.zeros((1, 3, 100, 100), np.float32)}, "model_node")
    with pytest.raises(ValueError, match="has no input 'image'"):
        node.call({"image": image(1)}, "model_node")
    with pytest.raises(ValueError, match=r"a dict .* a numpy array or a media, not list"):
        node.call([1, 2, 3], "model_node")
    # A media goes as its image (a camera frame, not what this model takes).
    item = panoramasdk.media(frame(3))
    with pytest.raises(ValueError, match=r"given uint8 \[48, 64, 3\]"):
        node.call(item, "model_node")
    # The connection is still good after refused inputs.
    assert_classified(node.call({"data": image(3)}, "model_node"), image(3))


def test_time_out_and_the_configured_default(node, node_env, runtime):
    with pytest.raises(TimeoutError, match=r"slow_node gave no answer within 0\.3 s"):
        node.call({"n": FOREVER}, "slow_node", time_out=0.3)
    assert node.call({"n": np.array([4], np.int64)}, "slow_node", time_out=30)[0] == 4.0


def test_the_configured_call_timeout_applies_when_the_app_gives_none(node_env, runtime):
    config = sample_config(runtime, call_timeout_s=0.3)
    config.models["slow_node"] = ModelRef(socket="model-slow_node.sock", inputs=[COUNT])
    node_env(config)
    node = panoramasdk.node()
    with pytest.raises(TimeoutError, match=r"within 0\.3 s"):
        node.call({"n": FOREVER}, "slow_node")


def test_a_call_does_not_block_other_threads(node):
    """SDK 1.1: while one thread waits on a long inference, others call and get answers."""
    stuck = threading.Event()
    outcome: list[BaseException] = []

    def long_call() -> None:
        stuck.set()
        try:
            node.call({"n": FOREVER}, "slow_node", time_out=20)
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=long_call, daemon=True)
    waiter.start()
    stuck.wait(5)
    answers: dict[int, tuple] = {}

    def short_call(seed: int) -> None:
        answers[seed] = node.call({"data": image(seed)}, "model_node", time_out=10)

    callers = [threading.Thread(target=short_call, args=(seed,)) for seed in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(15)
    assert sorted(answers) == [0, 1, 2, 3]
    for seed, result in answers.items():
        assert_classified(result, image(seed))
    assert waiter.is_alive(), f"the long call should still be waiting: {outcome}"


def test_a_model_node_that_is_not_running(node_env, runtime):
    config = sample_config(runtime)
    config.models["gone_node"] = ModelRef(socket="model-gone_node.sock", inputs=[DATA])
    node_env(config)
    node = panoramasdk.node()
    with pytest.raises(ConnectionError, match="model node gone_node is not running"):
        node.call({"data": image(1)}, "gone_node")
