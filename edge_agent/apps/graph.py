"""From an application's spec to its runtime: the shared-memory rings and one config per process.

The edges decide who reads what: a code node's media input reads the rings of the camera nodes
connected to it (a reader index of its own in each), a parameter input gets the parameter
node's value, and a media output feeds the display nodes it is connected to. Every model node
of the application can be called by every code node (``call(input, "<model node>")``), as on
Panorama, where model nodes need no edges.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devicelink.apps import ApplicationSpec, NodeSpec
from edge_agent.runtime.config import (
    CameraConfig,
    CameraSecrets,
    CodeNodeConfig,
    DisplayConfig,
    MediaInput,
    MediaOutput,
    ModelRef,
    ModelServerConfig,
    ParameterInput,
    StreamInput,
    TensorSpec,
)
from edge_agent.runtime.ring import DEFAULT_CAPACITY, FrameRing

PARAMETER_TYPES = ("float32", "int32", "string", "boolean")
SPARE_SLOTS = 3  # beyond the held ones: the latest, and room for the writer to never wait


class PlanError(Exception):
    pass


@dataclass
class RingPlan:
    name: str
    readers: int = 0
    capacity: int = DEFAULT_CAPACITY

    def reader(self) -> int:
        self.readers += 1
        return self.readers - 1


@dataclass
class RuntimePlan:
    folder: Path
    rings: dict[str, RingPlan] = field(default_factory=dict)
    cameras: dict[str, tuple[CameraConfig, CameraSecrets]] = field(default_factory=dict)
    models: dict[str, ModelServerConfig] = field(default_factory=dict)
    displays: dict[str, DisplayConfig] = field(default_factory=dict)
    code: dict[str, CodeNodeConfig] = field(default_factory=dict)

    def create_rings(self) -> None:
        for ring in self.rings.values():
            readers = max(ring.readers, 1)
            FrameRing.create(
                self.folder / ring.name,
                slots=2 * readers + SPARE_SLOTS,  # two held per reader
                readers=readers,
                capacity=ring.capacity,
            )

    def config_path(self, kind: str, node: str) -> Path:
        return self.folder / f"{kind}-{node}.json"

    def write_configs(self) -> None:
        documents: list[tuple[Path, Any]] = [
            *((self.config_path("camera", n), c[0]) for n, c in self.cameras.items()),
            *((self.config_path("model", n), c) for n, c in self.models.items()),
            *((self.config_path("display", n), c) for n, c in self.displays.items()),
            *((self.config_path("code", n), c) for n, c in self.code.items()),
        ]
        for path, config in documents:
            path.write_text(config.model_dump_json(indent=1))
            path.chmod(0o644)  # the sandboxed code node reads its own


def runtime_folder(instance_folder: Path, application_instance_id: str) -> Path:
    """Where an instance's rings and sockets live: ``/dev/shm`` when there is one (memory, not
    disk), named after the instance folder so two agents on one host never share one."""
    tag = hashlib.sha256(str(instance_folder.resolve()).encode()).hexdigest()[:8]
    root = Path("/dev/shm")  # noqa: S108 (a private folder is made in it, mode 0755 by us)
    if not (root.is_dir() and os.access(root, os.W_OK)):
        root = Path(tempfile.gettempdir())
    return root / f"vantage-{tag}-{application_instance_id}"[:100]


def fresh_folder(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o755, parents=True)


def _split(end: str) -> tuple[str, str]:
    node, _, port = end.partition(".")
    return node, port


def _ring(result: RuntimePlan, name: str) -> RingPlan:
    return result.rings.setdefault(name, RingPlan(name))


def model_descriptor(node: NodeSpec) -> tuple[Path | None, dict[str, Any]]:
    """The model asset's staged name and its mlModelDescriptor."""
    for asset in node.assets:
        if asset.implementation_type in ("model", ""):
            descriptor = asset.descriptor.get("mlModelDescriptor", asset.descriptor)
            return Path(asset.name), descriptor if isinstance(descriptor, dict) else {}
    return None, {}


def plan(
    spec: ApplicationSpec,
    staged: Path,
    folder: Path,
    *,
    call_timeout_s: float = 30.0,
    model_threads: int | None = None,
    camera_timeout_s: float = 10.0,
    display_size: tuple[int, int] = (1280, 720),
) -> RuntimePlan:
    """Everything the instance's processes need (PlanError for a graph that cannot run).

    In this order, which gives every ring its readers' indices: cameras and models, the
    displays' readers of the camera rings, the code nodes (their inputs, then their outputs),
    the displays."""
    result = RuntimePlan(folder=folder)
    for node in spec.nodes:
        if node.kind == "camera":
            _plan_camera(result, node, camera_timeout_s)
        elif node.kind == "model":
            _plan_model(result, node, staged, model_threads)
    graph = _Graph(spec)
    for display in graph.displays:
        # A display may show any frame a code node puts: it reads every camera ring.
        for ring in list(result.rings.values()):
            graph.display_readers[display.name][ring.name] = ring.reader()
    for node in spec.nodes:
        if node.kind == "code":
            result.code[node.name] = _plan_code(result, graph, node, call_timeout_s)
    for display in graph.displays:
        _plan_display(result, display, graph.display_readers[display.name], display_size)
    return result


class _Graph:
    """The spec's nodes and edges, as planning looks them up."""

    def __init__(self, spec: ApplicationSpec) -> None:
        self.application_instance_id = spec.application_instance_id
        self.nodes = {n.name: n for n in spec.nodes}
        self.into: dict[str, list[str]] = defaultdict(list)  # "consumer.port" → producers
        for edge in spec.edges:
            self.into[edge.consumer].append(edge.producer)
        self.displays = [n for n in spec.nodes if n.kind == "display"]
        # Per display, its reader index in each ring it reads.
        self.display_readers: dict[str, dict[str, int]] = {d.name: {} for d in self.displays}

    def producers(self, node: str, port: str) -> list[NodeSpec]:
        """The nodes whose outputs are connected to ``node.port``."""
        found = (self.nodes.get(_split(p)[0]) for p in self.into.get(f"{node}.{port}", []))
        return [source for source in found if source is not None]


def _plan_camera(result: RuntimePlan, node: NodeSpec, timeout_s: float) -> None:
    ring = result.rings.setdefault(f"cam-{node.name}.ring", RingPlan(f"cam-{node.name}.ring"))
    stream = node.stream
    if stream is None:
        raise PlanError(f"{node.name}: the camera node has no stream")
    result.cameras[node.name] = (
        CameraConfig(
            node=node.name, runtime_dir=str(result.folder), ring=ring.name, url=stream.url,
            files=stream.files, loop_count=stream.loop_count, fps=stream.fps,
            open_timeout_s=timeout_s, read_timeout_s=timeout_s,
        ),
        CameraSecrets(username=stream.username, password=stream.password),
    )  # fmt: skip


def _plan_model(result: RuntimePlan, node: NodeSpec, staged: Path, threads: int | None) -> None:
    archive, descriptor = model_descriptor(node)
    if archive is None:
        raise PlanError(f"{node.name}: the model node's package has no model asset")
    try:
        inputs = [TensorSpec.model_validate(i) for i in descriptor.get("inputs") or []]
    except ValueError as exc:
        raise PlanError(f"{node.name}: the model descriptor's inputs: {exc}") from None
    if not inputs:
        raise PlanError(f"{node.name}: the model descriptor names no inputs")
    precision = descriptor.get("precisionMode") or "FP32"
    result.models[node.name] = ModelServerConfig(
        node=node.name, runtime_dir=str(result.folder), socket=f"model-{node.name}.sock",
        model_archive=str(staged / node.name / archive), inputs=inputs,
        precision=precision if precision in ("FP16", "INT8") else "FP32", threads=threads,
    )  # fmt: skip


def _plan_code(
    result: RuntimePlan, graph: _Graph, node: NodeSpec, call_timeout_s: float
) -> CodeNodeConfig:
    config = CodeNodeConfig(
        application_instance_id=graph.application_instance_id, node=node.name,
        runtime_dir=str(result.folder), call_timeout_s=call_timeout_s,
        models={
            name: ModelRef(socket=model.socket, inputs=model.inputs)
            for name, model in result.models.items()
        },
    )  # fmt: skip
    for port in node.inputs:
        name, kind = str(port.get("name", "")), str(port.get("type", "media"))
        producers = graph.producers(node.name, name)
        if kind in PARAMETER_TYPES:
            value = None
            for source in producers:
                if source.kind == "parameter":
                    value = source.value
            config.inputs[name] = ParameterInput(type=kind, value=value)  # type: ignore[arg-type]
            continue
        streams = []
        for source in producers:
            if source.kind != "camera":
                continue
            ring = result.rings[f"cam-{source.name}.ring"]
            streams.append(
                StreamInput(
                    camera=source.name, stream_id=source.name,
                    stream_uri=source.stream.url if source.stream else "",
                    ring=ring.name, reader=ring.reader(),
                )
            )  # fmt: skip
        config.inputs[name] = MediaInput(streams=streams)
    for port in node.outputs:
        name = str(port.get("name", ""))
        fed = [
            d.name for d in graph.displays
            if any(p == f"{node.name}.{name}" for p in graph.into.get(f"{d.name}.video_in", []))
        ]  # fmt: skip
        output = MediaOutput(displays=[f"display-{d}.sock" for d in fed])
        if fed:
            out = result.rings.setdefault(
                f"out-{node.name}.ring", RingPlan(f"out-{node.name}.ring")
            )
            output.ring = out.name
            for display in fed:
                graph.display_readers[display][out.name] = out.reader()
        config.outputs[name] = output
    return config


def _plan_display(
    result: RuntimePlan, display: NodeSpec, readers: dict[str, int], size: tuple[int, int]
) -> None:
    width, height = size
    ring = RingPlan(f"display-{display.name}.ring", capacity=width * height * 3)
    ring.reader()  # the agent's HDMI output
    result.rings[ring.name] = ring
    result.displays[display.name] = DisplayConfig(
        node=display.name, runtime_dir=str(result.folder), socket=f"display-{display.name}.sock",
        ring=ring.name, readers=readers, width=width, height=height,
        streams={camera: f"cam-{camera}.ring" for camera in result.cameras},
    )  # fmt: skip
