"""The edge pipeline: camera → model → display, end to end, against the bounds of this machine.

    .venv/bin/python bench/pipeline.py [--streams 1 2 4] [--seconds 10] [--bound-seconds 4]

It runs the people counter sample (``samples/people_counter``: its real code, in the container
image its Dockerfile builds on the base image, unless ``--code-only``; the real SSDLite person
detector) on the agent's own runtime (``edge_agent.apps.Instance``: camera processes, a model
server, the code node, the display), with the test video served by the real RTSP server
(GStreamer's rtsp-server under Debian's Python) as 1, 2 and 4 cameras. For each it prints the
frames per second that came out annotated at the display, and the latency from a frame being
decoded to its annotated frame being on the display (p50 and p99).

Next to them, measured in the same run on the same machine, what the machine can do, and the
ratio of the pipeline's frames per second to it:

- ``machine``: min(the frames per second the cameras send, cpus / (cpus / R_all + 1 /
  R_decode)), where R_all is the most images per second onnxruntime alone infers on the whole
  machine (the better of one process on every CPU and one single-thread process per CPU) and
  R_decode the frames per second one process decodes the video to BGR: every frame must be
  decoded and inferred, on the same CPUs. Both are measured right before and right after each
  pipeline run, and their means taken: a virtual machine's CPUs drift.
- also shown: ``camera`` (RTSP packets read, no decoding), ``decode`` (PyAV alone, one
  process per stream) and ``inference`` (one process with the model server's threads).

The last line is the summary: ``fps_<n>=<x> machine_bound_<n>=<x> ratio_<n>=<x>`` for each
number of cameras (1, 2, 4 and 8 by default), then ``latency_p99_ms_1=<x>``. ``--smoke`` is
CI's guard: 2 cameras for a few seconds, failing only when the ratio is below 0.1.

``--precision int8`` runs the detector quantized to INT8 (``modelcompile.quantize``, calibrated
on frames of the cameras' own video as the people counter prepares them, checked against FP32
on frames it was not calibrated on): it prints the accuracy report, the inference bound is the
INT8 model's, and the summary's keys end in ``_int8`` (``fps_4_int8=<x> ratio_4_int8=<x>``),
with ``of_all_4_int8``, the share of all the frames the four cameras send that came out.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.common import free_port, wait_until  # noqa: E402

SAMPLE = BASE_DIR / "samples" / "people_counter"
CODE_PACKAGE = SAMPLE / "packages" / "123456789012-PEOPLE_COUNTER_CODE-1.0"
MODEL = SAMPLE / "model" / "ssdlite_mobilenet_v2_person.onnx"
VIDEO = SAMPLE / "media" / "pedestrians.mp4"
RTSP_SERVER = BASE_DIR / "tests" / "support" / "rtsp_server.py"
IID = "applicationInstance-benchpipeline00000000000000"
SMOKE_RATIO = 0.1  # 10x below what this machine records (about 1): only a gross regression


# --- the RTSP server ------------------------------------------------------------------------------
def start_rtsp(folder: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = folder / "rtsp.log"
    process = subprocess.Popen(
        ["/usr/bin/python3", str(RTSP_SERVER), "--port", str(port), "--h264", str(VIDEO),
         "--h265", str(VIDEO)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip

    def ready() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"bench: the RTSP server exited:\n{log.read_text()}")
        return "READY" in log.read_text()

    wait_until(ready, 30, "the RTSP server")
    return process, port


def camera_urls(port: int, count: int) -> list[str]:
    # One URL per camera, so each is its own RTSP session as with real cameras.
    return [f"rtsp://127.0.0.1:{port}/open?camera={i}" for i in range(count)]


# --- the bounds -----------------------------------------------------------------------------------
def camera_bound(urls: list[str], seconds: float) -> float:
    """Frames per second the cameras send, in total: packets read, nothing decoded."""
    import av

    rates = [0.0] * len(urls)

    def read(index: int, url: str) -> None:
        with av.open(url, options={"rtsp_transport": "tcp"}, timeout=10) as container:
            stream = container.streams.video[0]
            counted, first = 0, None
            skip_until = time.monotonic() + 1  # past the burst of buffered frames at connect
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                now = time.monotonic()
                if now < skip_until:
                    continue
                if first is None:
                    first = now
                    continue
                counted += 1
                if now - first >= seconds:
                    rates[index] = counted / (now - first)
                    return

    threads = [threading.Thread(target=read, args=(i, u)) for i, u in enumerate(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(rates)


def _decode(path: str, seconds: float, result: Any) -> None:
    import av

    frames = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                frame.to_ndarray(format="bgr24")
                frames += 1
                if time.monotonic() >= deadline:
                    break
    result.put(frames)


def decode_bound(streams: int, seconds: float) -> float:
    """Frames per second PyAV decodes (to BGR, as the camera node does), one process each."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_decode, args=(str(VIDEO), seconds, results)) for _ in range(streams)
    ]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=seconds + 60) for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def calibration_frames(count: int = 64) -> list[dict[str, Any]]:
    """Detector inputs from all through the video, prepared as the people counter prepares
    each frame (300x300 RGB, uint8, a batch of one)."""
    import av
    import cv2

    with av.open(str(VIDEO)) as container:
        total = container.streams.video[0].frames or 2385
        step = max(1, total // count)
        frames = []
        for index, frame in enumerate(container.decode(video=0)):
            if index % step == 0 and len(frames) < count:
                image = cv2.resize(frame.to_ndarray(format="bgr24"), (300, 300))
                frames.append({"image_tensor:0": cv2.cvtColor(image, cv2.COLOR_BGR2RGB)[None]})
    return frames


def int8_model(folder: Path) -> Path:
    """The detector quantized to INT8; prints the accuracy report against FP32."""
    from modelcompile.quantize import quantize

    output = folder / "ssdlite_int8.onnx"
    report = quantize(MODEL, output, calibration_frames())
    print(f"int8: {report} (calibrated on {report.calibration_samples} frames)", flush=True)
    return output


def _frames_for_inference() -> list[Any]:
    import av
    import cv2
    import numpy as np

    # Frames from all through the video: the detector's time depends on what it finds.
    batches = []
    with av.open(str(VIDEO)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 10 == 0:
                image = cv2.resize(frame.to_ndarray(format="rgb24"), (300, 300))
                batches.append(np.ascontiguousarray(image[None]))
    return batches


def _infer(model: str, threads: int, seconds: float, result: Any, ready: Any, go: Any) -> None:
    import onnxruntime

    batches = _frames_for_inference()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: batches[0]})
    ready.put(True)
    go.wait()  # every process measures the same seconds
    done = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        session.run(None, {name: batches[done % len(batches)]})
        done += 1
    result.put(done / (time.monotonic() - started))


def inference_bound(seconds: float, threads: int, model: Path = MODEL, processes: int = 1) -> float:
    """Images per second onnxruntime infers alone: ``processes`` processes with ``threads``
    intra-op threads each, all at once, in total."""
    context = multiprocessing.get_context("spawn")
    result, ready, go = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(target=_infer, args=(str(model), threads, seconds, result, ready, go))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    go.set()
    total = sum(result.get(timeout=seconds + 120) for _ in workers)
    for worker in workers:
        worker.join()
    return total


def machine_rates(seconds: float, model: Path) -> tuple[float, float]:
    """(R_all, R_decode): the most images per second inference can do on the whole machine
    (the better of one process on every CPU and one single-thread process per CPU), and the
    frames per second one process decodes the video to BGR."""
    cpus = len(os.sched_getaffinity(0))
    one_process = inference_bound(seconds, cpus, model)
    per_cpu = inference_bound(seconds, 1, model, processes=cpus) if cpus > 1 else one_process
    return max(one_process, per_cpu), decode_bound(1, seconds)


def machine_bound(cameras_fps: float, r_all: float, r_decode: float) -> float:
    """The frames per second this machine can annotate: every frame decoded (one CPU-second
    per R_decode frames) and inferred (CPUs / R_all CPU-seconds), the CPUs shared between
    the two, and never more than the cameras send."""
    cpus = len(os.sched_getaffinity(0))
    return min(cameras_fps, cpus / (cpus / r_all + 1 / r_decode))


# --- the pipeline ---------------------------------------------------------------------------------
def build_image(folder: Path) -> Path:
    """The people counter's Dockerfile built on the base image and exported, as
    ``vantage-cli build-container`` builds it (base image and layers from the cache)."""
    from imagebuild.builder import build_and_export

    dockerfile = CODE_PACKAGE / "Dockerfile"
    tag = "localhost/vantage-bench/people-counter"
    return build_and_export(CODE_PACKAGE, dockerfile, tag, folder, progress=lambda line: None)[1]


def stage(folder: Path, image: Path | None, model: Path = MODEL) -> tuple[Path, dict[str, Any]]:
    """The people counter staged as the agent stages a deployed instance: in its image, unpacked
    into the image cache the instance uses, or (``image`` None) its code alone."""
    from edge_agent.apps.images import ImageCache
    from edge_agent.apps.staging import IMAGE_MARK, STAGED_MARK

    staged = folder / "gen-1"
    code = staged / "code_node" / "panorama"
    if image is None:
        shutil.copytree(CODE_PACKAGE / "src", code)
    else:
        code.parent.mkdir(parents=True)
        sha = image.name.removesuffix(".tar.gz")
        ImageCache(folder.parent / "images", 64 * 1024**3, 8 * 1024**3).unpack(sha, image)
        (code.parent / IMAGE_MARK).write_text(sha)
    descriptor = json.loads((CODE_PACKAGE / "descriptor.json").read_text())
    model_dir = staged / "model_node"
    model_dir.mkdir(parents=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(model, arcname=model.name)
    (model_dir / "model_asset").write_bytes(buffer.getvalue())
    (staged / STAGED_MARK).write_text(json.dumps({"code_node": descriptor}))
    return staged, descriptor


def spec_for(urls: list[str], threshold: float = 0.5):  # type: ignore[no-untyped-def]
    from devicelink.apps import ApplicationSpec

    model_descriptor = json.loads(
        (SAMPLE / "packages" / "123456789012-PERSON_DETECTOR-1.0" / "descriptor.json").read_text()
    )
    cameras = [f"camera_{i}" for i in range(len(urls))]
    nodes: list[dict[str, Any]] = [
        {
            "name": "code_node", "kind": "code",
            "inputs": [{"name": "video_in", "type": "media"},
                       {"name": "threshold", "type": "float32"}],
            "outputs": [{"name": "video_out", "type": "media"}],
        },
        {
            "name": "model_node", "kind": "model",
            "assets": [{"name": "model_asset", "sha256": "0" * 64, "size": 0, "path": "-",
                        "implementation_type": "model", "descriptor": model_descriptor}],
        },
        {"name": "output_node", "kind": "display", "inputs": [{"name": "video_in",
                                                               "type": "media"}]},
        {"name": "threshold", "kind": "parameter", "parameter_type": "float32",
         "value": threshold},
        *({"name": n, "kind": "camera", "stream": {"url": u}}
          for n, u in zip(cameras, urls, strict=True)),
    ]  # fmt: skip
    edges = [
        *({"producer": f"{n}.video_out", "consumer": "code_node.video_in"} for n in cameras),
        {"producer": "code_node.video_out", "consumer": "output_node.video_in"},
        {"producer": "threshold", "consumer": "code_node.threshold"},
    ]
    return ApplicationSpec.model_validate(
        {"application_instance_id": IID, "name": "people-counter-bench", "generation": 1,
         "nodes": nodes, "edges": edges}
    )  # fmt: skip


async def run_pipeline(
    folder: Path, urls: list[str], warmup: float, seconds: float, image: Path | None, model: Path
):  # fmt: skip
    """(frames per second at the display, latency p50 ms, latency p99 ms, model threads)."""
    from edge_agent.apps.instance import Instance
    from edge_agent.apps.options import AppOptions
    from edge_agent.apps.sandbox import probe_support

    instance_dir = folder / f"instance-{len(urls)}"
    staged, _ = stage(instance_dir, image, model)
    options = AppOptions(camera_timeout_s=10)
    instance = Instance(instance_dir, None, options, probe_support(), lambda: None)  # type: ignore[arg-type]
    await instance.start(spec_for(urls), staged)
    try:

        def shown() -> float:
            return float(instance.metrics().get("output_node", {}).get("media", 0))

        deadline = time.monotonic() + 60
        while shown() == 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: no frame reached the display; nodes: {instance.nodes}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(warmup)
        # The display reports its totals once a second: time them by when they change, so the
        # rate is not off by the part of a second between a report and this loop's look.
        changes: list[tuple[float, float]] = []
        p50s: list[float] = []
        p99s: list[float] = []
        started = time.monotonic()
        while time.monotonic() - started < seconds or len(changes) < 3:
            display = instance.metrics().get("output_node", {})
            count = float(display.get("media", 0))
            if not changes or count != changes[-1][1]:
                changes.append((time.monotonic(), count))
                if len(changes) > 1 and display.get("latency_ms_p50") is not None:
                    p50s.append(float(display["latency_ms_p50"]))
                    p99s.append(float(display["latency_ms_p99"]))
            await asyncio.sleep(0.02)
        (first_at, first), (last_at, last) = changes[1], changes[-1]
        fps = (last - first) / (last_at - first_at)
        errors = {n: s for n, s in instance.nodes.items() if s[0] == "ERROR"}
        if errors:
            print(f"  node errors: {errors}", flush=True)
        # Per-second p99s: their maximum bounds the run's p99 from above; the median says
        # what a usual second looks like.
        print(f"  per second: latency p99 median {statistics.median(p99s):.1f} ms, "
              f"max {max(p99s):.1f} ms", flush=True)  # fmt: skip
        return fps, statistics.median(p50s), max(p99s)
    finally:
        await instance.stop()


def model_threads() -> int:
    from edge_agent.runtime.modelload import default_threads

    return default_threads()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=10.0, help="pipeline measurement")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--bound-seconds", type=float, default=4.0)
    parser.add_argument(
        "--code-only", action="store_true",
        help="run the code on the agent's Python instead of in its container image",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=("fp32", "int8"), default="fp32",
        help="the detector as it is (fp32) or quantized to INT8",
    )  # fmt: skip
    parser.add_argument(
        "--smoke", action="store_true",
        help="CI's guard: 2 cameras for a few seconds, code only; fails only on a gross "
        f"regression (a ratio below {SMOKE_RATIO}, where this machine records about 1)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.smoke:
        args.streams, args.seconds, args.warmup, args.bound_seconds = [2], 4.0, 1.0, 1.5
        args.code_only = True
    folder = Path(tempfile.mkdtemp(prefix="vantage-pipeline-bench-"))
    model = int8_model(folder) if args.precision == "int8" else MODEL
    image = None if args.code_only else build_image(folder)
    rtsp, port = start_rtsp(folder)
    threads = model_threads()
    where = "its code alone" if image is None else "its container image"
    print(f"pipeline bench: {os.cpu_count()} CPUs, model server {threads} thread(s), the people "
          f"counter in {where}, the detector in {args.precision.upper()}", flush=True)  # fmt: skip
    results: dict[int, dict[str, float]] = {}
    try:
        before = machine_rates(args.bound_seconds, model)
        for count in args.streams:
            urls = camera_urls(port, count)
            bounds = {
                "camera": camera_bound(urls, args.bound_seconds),
                "decode": decode_bound(count, args.bound_seconds),
                "inference": inference_bound(args.bound_seconds, threads, model),
            }
            fps, p50, p99 = asyncio.run(
                run_pipeline(folder, urls, args.warmup, args.seconds, image, model)
            )
            # What a virtual machine's CPUs can do drifts by tens of percent over minutes (its
            # host's other guests): the bound is the mean of the machine measured right before
            # and right after this run.
            after = machine_rates(args.bound_seconds, model)
            r_all, r_decode = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
            print(
                f"machine: inference R_all={r_all:.1f}/s ({before[0]:.1f} before, "
                f"{after[0]:.1f} after), decode R_decode={r_decode:.1f}/s",
                flush=True,
            )
            before = after
            bound = machine_bound(bounds["camera"], r_all, r_decode)
            results[count] = {"fps": fps, "bound": bound, "ratio": fps / bound, "p99": p99,
                              "of_all": fps / bounds["camera"]}  # fmt: skip
            print(
                f"streams={count} fps={fps:.1f} latency_p50_ms={p50:.1f} latency_p99_ms={p99:.1f}"
                f" | machine={bound:.1f} (camera={bounds['camera']:.1f}"
                f" decode={bounds['decode']:.1f} inference={bounds['inference']:.1f})"
                f" | ratio={fps / bound:.2f}",
                flush=True,
            )
    finally:
        rtsp.kill()
        rtsp.wait()
        shutil.rmtree(folder, ignore_errors=True)
    summary = []
    suffix = "_int8" if args.precision == "int8" else ""
    for count in sorted(results):
        r = results[count]
        summary += [f"fps_{count}{suffix}={r['fps']:.1f}",
                    f"machine_bound_{count}{suffix}={r['bound']:.1f}",
                    f"ratio_{count}{suffix}={r['ratio']:.2f}"]  # fmt: skip
        if suffix:
            summary.append(f"of_all_{count}{suffix}={r['of_all']:.2f}")
    if 1 in results:
        summary.append(f"latency_p99_ms_1{suffix}={results[1]['p99']:.1f}")
    print(" ".join(summary))
    if args.smoke and any(r["ratio"] < SMOKE_RATIO for r in results.values()):
        print(f"smoke: FAILED, a ratio below {SMOKE_RATIO}: a gross regression", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
