"""Camera packages an application brings itself: their credentials, and the stream they open.

Panorama let an application declare its own ``media_source`` package instead of an abstract
camera that the override replaces: an RTSP camera (system asset
``source/video/camera/rtsp/source_rtsp``, inputs ``streamUrl``, ``username`` and ``password``
with defaults) or panorama-cli's file source (``source/video/file``, inputs ``sourceNames``,
``loopCount`` and ``fps``). Such a node deploys without an override.

- **Registering** (``split_secrets``): the package.json's camera credentials (the ``username``
  and ``password`` defaults, and any typed into ``streamUrl``) leave the stored text and ports,
  replaced by ``SAVED_AS_SECRET``, and are kept encrypted with the interface, like a data
  source's.
- **Resolving** (``camera_stream``): the node's stream from the package's defaults, or from the
  string, int32 and float32 parameter nodes the graph wires to those inputs (as Panorama
  allowed). An RTSP camera's credentials are ciphertext in the result (``PackageStream``); the
  deployment copies them onto the node instance (``store_package_streams``) and the device link
  adds them, decrypted, for the device it sends to, as for a data source. A file source's
  videos must lie in the media folders (``TEST_MEDIA_DIRS``), like a test data source's.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from django.core.exceptions import ValidationError

from applications.models import ApplicationInstance, NodeInstance
from core import crypto
from datasources.models import SAVED_AS_SECRET
from datasources.streams import split_credentials, validate_stream_url
from devicelink.apps import StreamSource
from manifests.catalog import (
    CAMERA_CATEGORY,
    RTSP_SOURCE_ASSET,
    interface_category,
    system_asset,
)

SECRET_PORTS = ("username", "password")
URL_PORT = "streamUrl"
FILE_PORTS = ("sourceNames", "loopCount", "fps")


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""

    def encrypted(self) -> tuple[str, str]:
        return tuple(  # type: ignore[return-value]
            crypto.encrypt(value) if value else "" for value in (self.username, self.password)
        )


def source_asset(manifest_text: str, asset_name: str) -> str | None:
    """The system asset (``RTSP_SOURCE_ASSET``, ``FILE_SOURCE_ASSET``) behind a registered
    package's asset, from its stored package.json text."""
    try:
        body = json.loads(manifest_text).get("nodePackage")
    except (ValueError, AttributeError):
        return None
    return system_asset(body, asset_name)


def _inputs(interface: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ports = interface.get("inputs")
    return {
        port["name"]: port
        for port in (ports if isinstance(ports, list) else [])
        if isinstance(port, dict) and isinstance(port.get("name"), str)
    }


def is_rtsp_camera(body: dict[str, Any], interface: dict[str, Any]) -> bool:
    return (
        interface_category(body, interface) == CAMERA_CATEGORY
        and system_asset(body, interface.get("asset")) == RTSP_SOURCE_ASSET
    )


def kept_manifest(manifest: bytes) -> bytes:
    """A package.json's bytes as they may be kept anywhere (an import job's copy in the asset
    store): a camera package's credentials taken out, as registration stores it."""
    try:
        kept, secrets = split_secrets(json.loads(manifest))
    except (ValueError, TypeError, KeyError, AttributeError):
        return manifest  # not a valid package.json: the registry refuses it, saying why
    return json.dumps(kept, indent=4).encode() if secrets else manifest


def split_secrets(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Credentials]]:
    """The package.json without its camera credentials, and those credentials per interface.

    ``document`` (a valid package.json) is returned unchanged, the same object, when it holds
    none: a data source's camera package, whose defaults are SAVED_AS_SECRET already.
    """
    body = document["nodePackage"]
    found: dict[str, Credentials] = {}
    redacted = copy.deepcopy(document)
    for interface in redacted["nodePackage"]["interfaces"]:
        if not is_rtsp_camera(body, interface):
            continue
        ports = _inputs(interface)
        given = {
            name: ports[name]["default"]
            for name in SECRET_PORTS
            if name in ports
            and isinstance(ports[name].get("default"), str)
            and ports[name]["default"] not in ("", SAVED_AS_SECRET)
        }
        url_port = ports.get(URL_PORT, {})
        url = url_port.get("default")
        url_user = url_password = ""
        if isinstance(url, str) and url:
            clean, url_user, url_password = split_credentials(url)
            if url_user or url_password:
                url_port["default"] = clean
        for name in given:
            ports[name]["default"] = SAVED_AS_SECRET
        credentials = Credentials(
            given.get("username") or url_user, given.get("password") or url_password
        )
        if credentials != Credentials() or url_user or url_password:
            found[interface["name"]] = credentials
    return (redacted if found else document), found


# --- resolving a camera node ------------------------------------------------------------------


@dataclass(frozen=True)
class PackageStream:
    """An RTSP camera package's stream for the node instance: the URL, credentials encrypted."""

    url: str
    username_encrypted: str = ""
    password_encrypted: str = ""


class CameraRefused(Exception):
    """The camera node cannot run as configured; the message says which input and why."""


def wired_values(
    node: str, edges: list[Any], parameters: dict[str, Any], ports: tuple[str, ...]
) -> dict[str, Any]:
    """The values parameter nodes feed into ``node``'s ``ports`` (edges after replacement)."""
    values: dict[str, Any] = {}
    for edge in edges:
        consumer, _, port = edge.consumer.partition(".")
        producer = edge.producer.partition(".")[0]
        if consumer == node and port in ports and producer in parameters:
            values[port] = parameters[producer]
    return values


def _default(inputs: list[dict[str, Any]], name: str) -> Any:
    for port in inputs:
        if isinstance(port, dict) and port.get("name") == name:
            return port.get("default")
    return None


def _valid_url(url: str, what: str) -> None:
    try:
        validate_stream_url(url)
    except ValidationError as error:
        raise CameraRefused(f"{what}: {' '.join(error.messages)}") from None


def rtsp_stream(
    inputs: list[dict[str, Any]],
    encrypted: tuple[str, str],
    wired: dict[str, Any],
) -> PackageStream:
    """An RTSP camera package node's stream: wired parameters over the package's defaults."""
    url = wired.get(URL_PORT, _default(inputs, URL_PORT))
    source = "the parameter wired to streamUrl" if URL_PORT in wired else "streamUrl's default"
    if not isinstance(url, str) or not url.strip():
        raise CameraRefused(
            f"{source} is empty: give the camera's rtsp:// address as the default of streamUrl "
            "in its package.json, or replace the node with a camera in the override"
        )
    url, url_user, url_password = split_credentials(url)
    if "<" in url or ">" in url:
        raise CameraRefused(
            f"{source} is still panorama-cli's placeholder {url!r}: give the camera's "
            "rtsp:// address in its package.json, or replace the node with a camera in the "
            "override"
        )
    _valid_url(url, source)
    username_encrypted, password_encrypted = encrypted
    for index, name in enumerate(SECRET_PORTS):
        value = wired.get(name, (url_user, url_password)[index])
        if isinstance(value, str) and value:
            if index == 0:
                username_encrypted = crypto.encrypt(value)
            else:
                password_encrypted = crypto.encrypt(value)
    return PackageStream(url, username_encrypted, password_encrypted)


def _file_url(name: Any, index: int) -> str:
    where = f"sourceNames[{index}]"
    if not isinstance(name, str) or not name.strip():
        raise CameraRefused(f"{where} is not a file name: give absolute paths of H.264 videos")
    if name.startswith("file://"):
        return name
    if not PurePosixPath(name).is_absolute():
        raise CameraRefused(
            f"{where} {name!r} is not an absolute path: give the video's full path (or a "
            "file:/// URL) in one of the media folders"
        )
    return "file://" + quote(name)


def file_stream(inputs: list[dict[str, Any]], wired: dict[str, Any]) -> StreamSource:
    """A file source node's stream: its videos one after another, loopCount times, at fps."""
    names = wired.get("sourceNames", _default(inputs, "sourceNames"))
    if not isinstance(names, list) or not names:
        raise CameraRefused(
            "sourceNames names no video: give the videos' absolute paths as the default of "
            'sourceNames in its package.json, e.g. ["/srv/vantage/media/lobby.mp4"]'
        )
    files = [_file_url(name, index) for index, name in enumerate(names)]
    for index, url in enumerate(files):
        _valid_url(url, f"sourceNames[{index}] {urlsplit(url).path!r}")
    loop_count = wired.get("loopCount", _default(inputs, "loopCount"))
    loop_count = 0 if loop_count is None else loop_count
    if isinstance(loop_count, bool) or not isinstance(loop_count, int) or loop_count < 0:
        raise CameraRefused(
            f"loopCount {loop_count!r} is not a whole number of at least 0 (0 plays the "
            "videos in a loop forever, N plays them N times)"
        )
    fps = wired.get("fps", _default(inputs, "fps"))
    fps = 0 if fps is None else fps
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 <= fps <= 1000:
        raise CameraRefused(
            f"fps {fps!r} is not a frame rate from 0 to 1000 (0 plays each video at its own "
            "frame rate)"
        )
    return StreamSource(url=files[0], files=files, loop_count=loop_count, fps=float(fps))


def store_package_streams(instance: ApplicationInstance, streams: dict[str, PackageStream]):
    """Give the instance's camera nodes of RTSP camera packages their stream (after
    ``workflow.store_nodes``): the device link adds the decrypted credentials from there."""
    for node, stream in streams.items():
        NodeInstance.objects.filter(instance=instance, node_instance_id=node).update(
            stream_url=stream.url,
            stream_username_encrypted=stream.username_encrypted,
            stream_password_encrypted=stream.password_encrypted,
        )
