"""From a manifest and its overrides to what a device runs: validation and resolution.

``check_payloads`` validates the graph and the override against the registered packages and
returns every error with the document and JSON pointer it belongs to. ``resolve`` turns valid
payloads into an ``ApplicationSpec`` (devicelink/apps.py): the nodes after replacement, each
with its package, patch, interface, assets, launch mode and parameter value or stream, and the
edges re-pointed as Panorama does (every edge of a replaced node goes to each replacement).
Camera credentials are not part of the result: the link adds them for the device it sends to.
A camera node of the application's own camera package (no data source behind it) opens the
stream of its package's defaults and wired parameters (applications/cameranodes.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from applications.assets import implementations, read_descriptor
from applications.cameranodes import (
    FILE_PORTS,
    SECRET_PORTS,
    URL_PORT,
    CameraRefused,
    PackageStream,
    file_stream,
    rtsp_stream,
    source_asset,
    wired_values,
)
from applications.models import NodeFromTemplateJob, NodeInterface, NodePackage, PatchVersion
from core.status import NodeCategory, PackageVersionStatus
from datasources.models import SAVED_AS_SECRET
from devicelink.apps import ApplicationSpec, AssetRef, Edge, NodeSpec, RoutingRule, StreamSource
from manifests import validate_graph, validate_override
from manifests.catalog import ABSTRACT_CAMERA, FILE_SOURCE_ASSET, HDMI_SINK
from manifests.errors import ValidationError
from manifests.payload import load_quietly

ASSET_PATH = "/agent/v1/assets/{sha256}"
# The stock packages, as manifests/catalog.py defines them.
STOCK_CAMERA = ABSTRACT_CAMERA
STOCK_DISPLAY = HDMI_SINK
KIND_BY_CATEGORY = {
    NodeCategory.BUSINESS_LOGIC: "code",
    NodeCategory.ML_MODEL: "model",
    NodeCategory.MEDIA_SOURCE: "camera",
    NodeCategory.MEDIA_SINK: "display",
}
PARAMETER_TYPES = {"boolean", "int32", "float32", "string"}


@dataclass(frozen=True)
class PayloadError:
    """A problem in one of the two documents: ``document`` is "manifest" or "overrides"."""

    document: str
    path: str
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "document": self.document,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        return f"{self.document} {self.path or '(document)'}: {self.message}"


class DeployRefused(Exception):
    def __init__(self, errors: list[PayloadError]) -> None:
        super().__init__("; ".join(str(error) for error in errors[:5]))
        self.errors = errors


@dataclass
class Resolved:
    spec: ApplicationSpec
    data_sources: dict[str, int] = field(default_factory=dict)  # node name → DataSource pk
    # Camera nodes of the application's own RTSP camera packages: node name → their stream.
    package_streams: dict[str, PackageStream] = field(default_factory=dict)
    # Camera nodes with no data source, waiting for the edges: (spec, interface, index).
    own_cameras: list[tuple[NodeSpec, NodeInterface, int]] = field(default_factory=list)


def _body(text: str, key: str) -> dict[str, Any]:
    # load_quietly: None for text that is not JSON or nests too deeply (validation says why).
    doc = load_quietly(text) if text and text.strip() else {}
    body = doc.get(key) if isinstance(doc, dict) else None
    return body if isinstance(body, dict) else {}


def _includes(*bodies: dict[str, Any]) -> list[tuple[str, str, str, str, int]]:
    """(document, name, version, patchVersion, index) of every package include."""
    found = []
    for document, body in zip(("manifest", "overrides"), bodies, strict=False):
        for index, item in enumerate(body.get("packages") or []):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                found.append(
                    (
                        document,
                        item["name"],
                        str(item.get("version", "")),
                        str(item.get("patchVersion", "") or ""),
                        index,
                    )
                )
    return found


def _find_patch(name: str, version: str, patch: str) -> PatchVersion | None:
    account, _, package = name.partition("::")
    query = PatchVersion.objects.filter(
        package_version__package__account_id=account,
        package_version__package__name=package,
        package_version__version=version,
        status=PackageVersionStatus.REGISTER_COMPLETED,
    ).select_related("package_version__package")
    if patch and patch != "package":
        return query.filter(patch=patch).first()
    return query.filter(is_latest=True).first()


def _patches(
    manifest_text: str, overrides_text: str
) -> tuple[dict[str, PatchVersion], list[PayloadError]]:
    graph, override = _body(manifest_text, "nodeGraph"), _body(overrides_text, "nodeGraphOverrides")
    found: dict[str, PatchVersion] = {}
    errors = []
    for document, name, version, patch, index in _includes(graph, override):
        if name.startswith("panorama::"):
            continue
        match = _find_patch(name, version, patch)
        if match is None:
            exists = NodePackage.objects.filter(
                account_id=name.partition("::")[0], name=name.partition("::")[2]
            ).exists()
            what = f"version {version}" + (f" patch {patch}" if patch else "")
            errors.append(
                PayloadError(
                    document,
                    f"/{'nodeGraph' if document == 'manifest' else 'nodeGraphOverrides'}"
                    f"/packages/{index}",
                    f"Package {name} {what} is not registered on this console."
                    if exists
                    else f"Package {name} is not registered on this console.",
                    "Register it first (vantage-cli package-application), or correct the name "
                    "and version.",
                )
            )
        else:
            found[name] = match
    return found, errors


def check_payloads(manifest_text: str, overrides_text: str) -> list[PayloadError]:
    """Every error of the two documents, each at its place; [] when both are deployable."""
    patches, errors = _patches(manifest_text, overrides_text)
    packages = {name: patch.manifest_text for name, patch in patches.items()}
    for error in validate_graph(manifest_text, packages=packages):
        errors.append(_wrap("manifest", error))
    for error in validate_override(overrides_text or "", graph=manifest_text, packages=packages):
        errors.append(_wrap("overrides", error))
    return errors


def _wrap(document: str, error: ValidationError) -> PayloadError:
    return PayloadError(document, error.path, error.message, error.hint)


def _assets(patch: PatchVersion, interface: NodeInterface) -> list[AssetRef]:
    """The interface's asset as the package names it, with its descriptor."""
    if not interface.asset_name:
        return []
    refs = []
    for found in implementations(patch):
        asset = found.asset
        if found.asset_name != interface.asset_name or asset is None:
            continue
        descriptor = read_descriptor(found.descriptor) if found.descriptor is not None else {}
        requirements = found.document.get("requirements") or []
        refs.append(
            AssetRef(
                name=interface.asset_name,
                sha256=asset.sha256,
                size=asset.size,
                path=ASSET_PATH.format(sha256=asset.sha256),
                implementation_type=found.type,
                descriptor=descriptor,
                requirements=[r for r in requirements if isinstance(r, dict)],
            )
        )
    return refs


def resolve(manifest_text: str, overrides_text: str, name: str, instance_id: str) -> Resolved:
    """The spec for valid payloads; DeployRefused with every problem otherwise."""
    errors = check_payloads(manifest_text, overrides_text)
    if errors:
        raise DeployRefused(errors)
    patches, _ = _patches(manifest_text, overrides_text)
    graph, override = _body(manifest_text, "nodeGraph"), _body(overrides_text, "nodeGraphOverrides")
    override_nodes = {n["name"]: n for n in override.get("nodes") or [] if isinstance(n, dict)}
    replacements = {
        item["replace"]: [w["name"] for w in item.get("with") or []]
        for item in override.get("nodeOverrides") or []
        if isinstance(item, dict)
    }
    nodes: list[dict[str, Any]] = []
    for node in graph.get("nodes") or []:
        if node["name"] in replacements:
            for replacement in replacements[node["name"]]:
                merged = dict(override_nodes[replacement])
                if merged.get("interface") in PARAMETER_TYPES and "value" not in merged:
                    merged["value"] = node.get("value")
                nodes.append(merged)
        else:
            nodes.append(node)

    problems: list[PayloadError] = []
    result = Resolved(spec=ApplicationSpec(application_instance_id=instance_id, name=name,
                                           generation=1, nodes=[]))  # fmt: skip
    for index, node in enumerate(nodes):
        spec = _node_spec(node, patches, result, problems, index)
        if spec is not None:
            result.spec.nodes.append(spec)
    result.spec.edges = _edges(graph, override, replacements)
    _own_cameras(result, problems)
    if problems:
        raise DeployRefused(problems)
    rules = override.get("networkRoutingRules") or graph.get("networkRoutingRules") or []
    result.spec.network_routing_rules = [
        RoutingRule(
            node=rule["node"],
            container_port=rule["containerPort"],
            host_port=rule.get("hostPort") or rule["containerPort"],
        )
        for rule in rules
    ]
    return result


def _node_spec(
    node: dict[str, Any],
    patches: dict[str, PatchVersion],
    result: Resolved,
    problems: list[PayloadError],
    index: int,
) -> NodeSpec | None:
    interface_ref = str(node.get("interface", ""))
    if interface_ref in PARAMETER_TYPES:
        return NodeSpec(
            name=node["name"],
            kind="parameter",
            parameter_type=interface_ref,
            value=node.get("value"),
        )
    package_ref, _, interface_name = interface_ref.rpartition(".")
    launch = node.get("launch") or "onAppStart"
    if package_ref == STOCK_CAMERA:
        problems.append(
            PayloadError(
                "overrides",
                "/nodeGraphOverrides/nodeOverrides",
                f"Camera node {node['name']} is a placeholder: choose at least one data source "
                "for it.",
                f'Add {{"replace": "{node["name"]}", "with": [...]}} naming camera nodes.',
            )
        )
        return None
    if package_ref == STOCK_DISPLAY:
        return NodeSpec(
            name=node["name"],
            kind="display",
            node_id=f"hdmi_data_sink-1.0-00000000-{interface_name}",
            package="hdmi_data_sink",
            package_version="1.0",
            interface=interface_name,
            launch=launch,
            inputs=[{"name": "video_in", "type": "media"}],
        )
    patch = patches.get(package_ref)
    interface = patch.interfaces.filter(name=interface_name).first() if patch else None
    if patch is None or interface is None:
        problems.append(
            PayloadError(
                "manifest",
                f"/nodeGraph/nodes/{index}/interface",
                f"Node {node['name']}: interface {interface_ref} is not registered.",
            )
        )
        return None
    package = patch.package_version.package
    spec = NodeSpec(
        name=node["name"],
        kind=KIND_BY_CATEGORY.get(interface.category, "code"),
        node_id=f"{package.name}-{patch.package_version.version}-{patch.patch[:8]}-{interface.name}",
        package=package.name,
        package_version=patch.package_version.version,
        patch_version=patch.patch,
        interface=interface.name,
        launch=launch,
        assets=_assets(patch, interface),
        inputs=interface.inputs,
        outputs=interface.outputs,
    )
    if spec.kind == "camera":
        job = (
            NodeFromTemplateJob.objects.filter(patch__package_version__package=package)
            .exclude(data_source=None)
            .select_related("data_source")
            .first()
        )
        if job is not None:
            result.data_sources[spec.name] = job.data_source_id
        else:
            result.own_cameras.append((spec, interface, index))
    return spec


def _own_cameras(result: Resolved, problems: list[PayloadError]) -> None:
    """The streams of camera nodes that no data source feeds: their package's own."""
    nodes = result.spec.nodes
    parameters = {node.name: node.value for node in nodes if node.kind == "parameter"}
    edges = result.spec.edges
    secret_feeds: dict[str, bool] = {}  # parameter → whether it feeds only camera credentials
    for spec, interface, index in result.own_cameras:
        uri = source_asset(interface.patch.manifest_text, interface.asset_name)
        try:
            if uri == FILE_SOURCE_ASSET:
                wired = wired_values(spec.name, edges, parameters, FILE_PORTS)
                spec.stream = file_stream(spec.inputs, wired)
                continue
            wired = wired_values(spec.name, edges, parameters, (URL_PORT, *SECRET_PORTS))
            encrypted = (interface.stream_username_encrypted, interface.stream_password_encrypted)
            stream = rtsp_stream(spec.inputs, encrypted, wired)
        except CameraRefused as refused:
            problems.append(
                PayloadError(
                    "manifest",
                    f"/nodeGraph/nodes/{index}",
                    f"Camera node {spec.name}: {refused}",
                    "Set the camera package's input defaults (or the parameter nodes wired to "
                    "them), or replace the node with a camera in the override.",
                )
            )
            continue
        spec.stream = StreamSource(url=stream.url)  # its credentials: the node instance's
        result.package_streams[spec.name] = stream
    # A parameter that only carries cameras' credentials is not kept in the spec in clear.
    secret_ports = {f"{name}.{port}" for name in result.package_streams for port in SECRET_PORTS}
    for edge in edges:
        producer = edge.producer.partition(".")[0]
        if producer in parameters:
            secret = edge.consumer in secret_ports
            secret_feeds[producer] = secret_feeds.get(producer, True) and secret
    for node in nodes:
        if secret_feeds.get(node.name) and node.value:
            node.value = SAVED_AS_SECRET


def _edges(
    graph: dict[str, Any], override: dict[str, Any], replacements: dict[str, list[str]]
) -> list[Edge]:
    def expand(end: str) -> list[str]:
        node, dot, port = end.partition(".")
        if node in replacements:
            return [f"{name}{dot}{port}" for name in replacements[node]]
        return [end]

    edges = []
    for item in list(graph.get("edges") or []) + list(override.get("edges") or []):
        for producer in expand(item["producer"]):
            for consumer in expand(item["consumer"]):
                edges.append(Edge(producer=producer, consumer=consumer))
    return edges


def used_host_ports(device: Any, exclude: Any = None) -> dict[int, str]:
    """Host port → the name of the active instance on ``device`` that uses it (``exclude``: an
    instance being replaced, whose ports its replacement takes over)."""
    used: dict[int, str] = {}
    instances = device.application_instances.active()
    if exclude is not None:
        instances = instances.exclude(pk=exclude.pk)
    for instance in instances:
        for port, _node in instance.host_ports():
            if isinstance(port, int):
                used.setdefault(port, instance.name)
    return used
