"""The documents panorama-cli 1.1.6 writes, as Python (its resources/ files are the oracle)."""

from __future__ import annotations

from typing import Any

from manifests import catalog

ENVELOPE = "2021-01-01"

#: The Dockerfile of a new container package. vantage-cli does not run Docker; the file is
#: written so the package still builds with panorama-cli and Docker.
DOCKERFILE = """\
# This Dockerfile fetches the image tagged latest by default
# To use a specific version of the image, refer to https://gallery.ecr.aws/panorama/panorama-application
# and tag the image in the Dockerfile with the version you're planning to use.
FROM public.ecr.aws/panorama/panorama-application
COPY src /panorama
"""


def graph_skeleton() -> dict[str, Any]:
    return {"nodeGraph": {"envelopeVersion": ENVELOPE, "packages": [], "nodes": [], "edges": []}}


def package_skeleton(name: str, version: str) -> dict[str, Any]:
    return {
        "nodePackage": {
            "envelopeVersion": ENVELOPE,
            "name": name,
            "version": version,
            "description": f"Default description for package {name}",
            "assets": [],
            "interfaces": [],
        }
    }


def runtime_descriptor() -> dict[str, Any]:
    return {
        "runtimeDescriptor": {
            "envelopeVersion": ENVELOPE,
            "entry": {"path": "python3", "name": "/panorama/<entry_file_name_under_src>"},
        }
    }


def model_descriptor() -> dict[str, Any]:
    return {
        "mlModelDescriptor": {
            "envelopeVersion": ENVELOPE,
            "framework": "",
            "inputs": [{"name": "", "shape": []}],
        }
    }


def _media(name: str, description: str) -> dict[str, str]:
    return {"description": description, "name": name, "type": "media"}


def camera_package(name: str, version: str) -> dict[str, Any]:
    """An RTSP camera package: system asset ``source_rtsp``, interface ``rtsp_interface``."""
    document = package_skeleton(name, version)
    document["nodePackage"]["assets"] = [
        {
            "name": "rtsp_camera",
            "implementations": [
                {"type": "system", "assetUri": "source/video/camera/rtsp/source_rtsp"}
            ],
        }
    ]
    document["nodePackage"]["interfaces"] = [
        {
            "description": "Default desc",
            "name": "rtsp_interface",
            "category": "media_source",
            "asset": "rtsp_camera",
            "inputs": [
                {
                    "description": "Camera username",
                    "name": "username",
                    "type": "string",
                    "default": "<username>",
                },
                {
                    "description": "Camera password. Use empty string if there's no password",
                    "name": "password",
                    "type": "string",
                    "default": "<password>",
                },
                {
                    "description": "Camera streamUrl",
                    "name": "streamUrl",
                    "type": "string",
                    "default": "rtsp://<stream url>",
                },
            ],
            "outputs": [_media("video_out", "Video stream output")],
        }
    ]
    return document


def datasink_package(name: str, version: str) -> dict[str, Any]:
    """An HDMI output package: system asset ``sink_hdmi``, interface ``sink_interface``."""
    document = package_skeleton(name, version)
    document["nodePackage"]["assets"] = [
        {
            "name": "sink_hdmi",
            "implementations": [{"type": "system", "assetUri": "sink/video/hdmi/sink_hdmi"}],
        }
    ]
    document["nodePackage"]["interfaces"] = [
        {
            "name": "sink_interface",
            "category": "media_sink",
            "asset": "sink_hdmi",
            "inputs": [_media("video_in", "Video stream input")],
            "outputs": [_media("video_out", "Video stream output")],
        }
    ]
    return document


def interface(name: str, category: str, asset: str) -> dict[str, Any]:
    """The interface build-container and add-raw-model add: media in, media out."""
    return {
        "name": name,
        "category": category,
        "asset": asset,
        "inputs": [{"name": "video_in", "type": "media"}],
        "outputs": [{"name": "video_out", "type": "media"}],
    }


def graph_node(name: str, interface: str) -> dict[str, Any]:
    return {"name": name, "interface": interface, "overridable": False, "launch": "onAppStart"}


def asset(name: str, kind: str, asset_uri: str, descriptor_uri: str) -> dict[str, Any]:
    """``{name, implementations: [{type, assetUri, descriptorUri}]}`` (kind container/model)."""
    implementation = {"type": kind, "assetUri": asset_uri, "descriptorUri": descriptor_uri}
    return {"name": name, "implementations": [implementation]}


#: The stock packages ``add-panorama-package`` adds (manifests/catalog.py), with the node each
#: type gets.
ABSTRACT_CAMERA = catalog.ABSTRACT_CAMERA
HDMI_SINK = catalog.HDMI_SINK


def abstract_camera_node(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "interface": f"{ABSTRACT_CAMERA}.rtsp_v1_interface",
        "overridable": True,
        "launch": "onAppStart",
        "decorator": {
            "title": f"Camera {name}",
            "description": f"Default description for camera {name}",
        },
    }


def data_sink_node(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "interface": f"{HDMI_SINK}.hdmi0",
        "overridable": False,
        "launch": "onAppStart",
    }
