"""``manage.py load_sample``: the people counter sample, loaded into a fresh installation."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import av
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from applications.assets import open_asset
from applications.models import Asset, NodePackage, PatchVersion
from applications.registry import register_patch
from applications.resolve import resolve
from applications.samples import load
from applications.wizard import analyse, build_override, manifest_errors
from core.models import Installation
from datasources.models import DataSource
from datasources.streams import validate_stream_url
from vantage_cli import validate

# Loading builds the sample's container image (buildah, from the layer cache after the first).
pytestmark = pytest.mark.slow

SAMPLE = Path(django_settings.BASE_DIR) / "samples" / "people_counter"
CODE = SAMPLE / "packages/123456789012-PEOPLE_COUNTER_CODE-1.0"
MODEL = SAMPLE / "model/ssdlite_mobilenet_v2_person.onnx"
VIDEO = SAMPLE / "media/pedestrians.mp4"
# The converted model's sha256, as the shared media README records it.
MODEL_SHA256 = "f73ecc1244b3a9c2a4cf7c350a94f0261a810c33cbb265e06edd5186c03ae21f"


@pytest.fixture
def installation(settings, tmp_path, asset_store):
    settings.VAR_DIR = tmp_path / "var"
    settings.TEST_MEDIA_DIRS = [str(Path(settings.BASE_DIR) / "samples")]
    return Installation.get().account_id


def _latest(account: str, name: str) -> PatchVersion:
    return PatchVersion.objects.get(
        package_version__package__account_id=account,
        package_version__package__name=name,
        is_latest=True,
    )


def _stored(patch: PatchVersion, asset_name: str, uri: str = "assetUri") -> bytes:
    """The bytes of a file that the patch's package.json names, from the asset store."""
    [asset] = [a for a in json.loads(patch.manifest_text)["nodePackage"]["assets"]
               if a["name"] == asset_name]  # fmt: skip
    sha = asset["implementations"][0][uri].split(".")[0]
    stored = patch.assets.get(patchasset__name=asset_name, sha256=sha)
    with open_asset(stored) as stream:
        data = stream.read()
    assert hashlib.sha256(data).hexdigest() == sha
    return data


def _members(archive: bytes, names: set[str] | None = None) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()
            for m in tar
            if m.isfile() and (names is None or m.name in names)
        }


def _snapshot() -> dict[str, object]:
    return {
        "assets": sorted(Asset.objects.values_list("sha256", flat=True)),
        "patches": sorted(PatchVersion.objects.values_list("patch", "is_latest", "status")),
        "packages": sorted(NodePackage.objects.values_list("name", flat=True)),
        "sources": list(DataSource.objects.values_list("name", "url", "updated")),
    }


@pytest.mark.django_db
def test_load_registers_both_packages_the_model_asset_and_the_demo_camera(installation):
    account = installation
    outcome = load("people_counter")
    assert outcome.notes == []

    packages = set(NodePackage.objects.filter(account_id=account).values_list("name", flat=True))
    assert packages == {"PEOPLE_COUNTER_CODE", "PERSON_DETECTOR", "demo_camera"}

    code = _latest(account, "PEOPLE_COUNTER_CODE")
    assert code.status == "REGISTER_COMPLETED"
    assert hashlib.sha256(code.manifest_text.encode()).hexdigest() == code.patch
    interface = code.interfaces.get()
    assert (interface.name, interface.category, interface.asset_name) == (
        "interface",
        "BUSINESS_LOGIC",
        "code_asset",
    )
    assert {"name": "threshold", "type": "float32"}.items() <= interface.inputs[1].items()
    # The Dockerfile's image on the base image, exported: the code in /panorama, as the
    # Dockerfile's COPY put it, on the base image's filesystem.
    marker = "etc/vantage-base-image.json"
    container = _members(_stored(code, "code_asset"), {"panorama/application.py", marker})
    application = (CODE / "src/application.py").read_bytes()
    assert container["panorama/application.py"] == application
    assert json.loads(container[marker])["suite"] == "bookworm"
    descriptor = json.loads(_stored(code, "code_asset", "descriptorUri"))
    assert descriptor["runtimeDescriptor"]["entry"]["name"] == "/panorama/application.py"

    detector = _latest(account, "PERSON_DETECTOR")
    assert detector.status == "REGISTER_COMPLETED"
    assert detector.interfaces.get().category == "ML_MODEL"
    model = _members(_stored(detector, "model_asset"))
    assert list(model) == ["ssdlite_mobilenet_v2_person.onnx"]
    assert hashlib.sha256(model["ssdlite_mobilenet_v2_person.onnx"]).hexdigest() == MODEL_SHA256
    model_descriptor = json.loads(_stored(detector, "model_asset", "descriptorUri"))
    model_descriptor = model_descriptor["mlModelDescriptor"]
    assert model_descriptor["framework"] == "ONNX"
    assert model_descriptor["inputs"] == [
        {"name": "image_tensor", "shape": [1, 300, 300, 3], "type": "uint8"}
    ]

    source = DataSource.objects.get(name="demo_camera")
    assert source.description == "Demo camera (pedestrians)"
    assert source.url == VIDEO.resolve().as_uri()
    assert source.url.startswith("file:///") and source.url.endswith(
        "/samples/people_counter/media/pedestrians.mp4"
    )
    validate_stream_url(source.url)  # a test source the console may play
    camera = _latest(account, "demo_camera")
    assert camera.interfaces.get().category == "MEDIA_SOURCE"

    # The imported manifest deploys: the wizard accepts it, and with the demo camera chosen
    # for its camera node the console resolves every node to the registered packages.
    text = outcome.graph.read_text()
    assert "123456789012" not in text and f"{account}::PEOPLE_COUNTER_CODE" in text
    assert manifest_errors(text) == []
    graph = analyse(text)
    assert [slot.name for slot in graph.cameras] == ["camera_node"]
    assert [(p.name, p.type, p.value) for p in graph.parameters] == [
        ("confidence_threshold", "float32", 0.5)
    ]
    override = build_override(
        graph,
        account=account,
        cameras={"camera_node": [("demo_camera", "onAppStart")]},
        parameters={},
        routes=[],
    )
    resolved = resolve(text, json.dumps(override), "people-counter", "applicationInstance-test")
    assert {node.name for node in resolved.spec.nodes} >= {"code_node", "model_node", "demo_camera"}


@pytest.mark.django_db
def test_loading_again_changes_nothing_and_says_so(installation):
    out = io.StringIO()
    call_command("load_sample", stdout=out)
    assert "registered PERSON_DETECTOR 1.0" in out.getvalue()
    before = _snapshot()
    out = io.StringIO()
    call_command("load_sample", "people_counter", stdout=out)
    assert out.getvalue().strip() == "Sample people_counter is loaded already: nothing changed."
    assert _snapshot() == before


@pytest.mark.django_db
def test_a_newer_sample_replaces_the_loaders_patch_but_never_a_developers(
    installation, settings, tmp_path
):
    account = installation
    checkout = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("*.mp4")
    shutil.copytree(SAMPLE, checkout / "samples/people_counter", ignore=ignore)
    (checkout / "samples/people_counter/media/pedestrians.mp4").symlink_to(VIDEO)
    settings.BASE_DIR = checkout
    settings.TEST_MEDIA_DIRS = [str(checkout / "samples")]
    load("people_counter")
    first = _latest(account, "PEOPLE_COUNTER_CODE")

    code = checkout / "samples/people_counter" / CODE.relative_to(SAMPLE) / "src/application.py"
    code.write_text(code.read_text() + "\n# a later version of the sample\n")
    outcome = load("people_counter")
    second = _latest(account, "PEOPLE_COUNTER_CODE")
    assert second.patch != first.patch
    assert not PatchVersion.objects.filter(patch=first.patch).exists()
    assert any("deregistered the previous patch" in change for change in outcome.changes)

    # A developer registers their own build of the package: the loader leaves it alone.
    document = json.loads(second.manifest_text)
    document["nodePackage"]["description"] = "my own people counter"
    mine = register_patch(
        account_id=account,
        name="PEOPLE_COUNTER_CODE",
        version="1.0",
        manifest_bytes=json.dumps(document, indent=4).encode(),
    )
    code.write_text(code.read_text() + "# and another\n")
    outcome = load("people_counter")
    assert _latest(account, "PEOPLE_COUNTER_CODE").patch == mine.patch.patch
    assert any("PEOPLE_COUNTER_CODE 1.0" in note for note in outcome.notes)


@pytest.mark.django_db
def test_a_data_source_of_the_same_name_is_left_alone(installation):
    DataSource.objects.create(
        name="demo_camera", url="rtsp://192.0.2.10:554/stream1", description="someone's camera"
    )
    outcome = load("people_counter")
    source = DataSource.objects.get(name="demo_camera")
    assert source.url == "rtsp://192.0.2.10:554/stream1"
    assert any("demo_camera exists with another URL" in note for note in outcome.notes)


def test_the_sample_project_validates(capsys):
    assert validate.run(argparse.Namespace(paths=[SAMPLE])) == 0
    out = capsys.readouterr().out
    assert "6 valid, 0 invalid" in out
    assert "valid graph" in out and "valid override" in out


def test_the_demo_video_is_a_20_second_cut_of_the_test_video():
    with av.open(str(VIDEO)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 768, 576)
        assert 19.5 <= container.duration / 1e6 <= 21
        first = next(container.demux(stream))
        assert first.is_keyframe
