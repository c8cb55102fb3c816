"""build-container and add-raw-model, offline, on the developer guide's sample application."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile

import pytest

from tests.support.cli_project import SAMPLE_ACCOUNT, copy_sample, load

CODE = f"packages/{SAMPLE_ACCOUNT}-SAMPLE_CODE-1.0"
MODEL = f"packages/{SAMPLE_ACCOUNT}-SQUEEZENET_PYTORCH-1.0"
RUNTIME_DESCRIPTOR = "1872d0b1129481ed053c52e66d6af8b030f9eb69b1168a29012f01c7034d7a8f.json"
MODEL_DESCRIPTOR = "82b31405c50044128c67380afc768ec84c507394b9f9dfac031aad15ad9ad71d.json"


@pytest.fixture
def project(tmp_path):
    project = copy_sample(tmp_path)
    src = project / CODE / "src"
    (src / "lib").mkdir(parents=True)
    (src / "application.py").write_text("print('hello')\n")
    (src / "lib" / "helper.py").write_text("X = 1\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    return project


def _build(cli, project, name="code_asset", *extra):
    return cli(
        "build-container", "--container-asset-name", name, "--package-path", CODE, *extra,
        cwd=project,
    )  # fmt: skip


def _archives(project):
    return sorted(p.name for p in (project / "assets").glob("*.tar.gz"))


def test_build_container_follows_the_spec(cli, project):
    graph_before = (project / "graphs" / "my-app" / "graph.json").read_bytes()
    result = _build(cli, project)
    assert result.code == 0, result.err
    [archive] = _archives(project)
    sha = archive.removesuffix(".tar.gz")
    assert hashlib.sha256((project / "assets" / archive).read_bytes()).hexdigest() == sha
    # The descriptor copy is named by its sha256: the sample's own test vector.
    assert (project / "assets" / RUNTIME_DESCRIPTOR).read_bytes() == (
        project / CODE / "descriptor.json"
    ).read_bytes()
    package_text = (project / CODE / "package.json").read_text()
    package = load(project / CODE / "package.json")
    assert package_text == json.dumps(package, indent=4)
    asset = {
        "name": "code_asset",
        "implementations": [
            {"type": "container", "assetUri": archive, "descriptorUri": RUNTIME_DESCRIPTOR}
        ],
    }
    assert package["nodePackage"]["assets"] == [asset]
    # The sample's interface already uses code_asset: no new interface, no new graph node.
    assert [i["name"] for i in package["nodePackage"]["interfaces"]] == ["interface"]
    assert (project / "graphs" / "my-app" / "graph.json").read_bytes() == graph_before
    assert json.dumps(asset, indent=4) in result.out


def test_the_archive_is_the_code_under_panorama_and_reproducible(cli, project):
    assert _build(cli, project).code == 0
    [first] = _archives(project)
    package_before = (project / CODE / "package.json").read_bytes()
    with tarfile.open(project / "assets" / first) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert list(members) == [
            "descriptor.json",
            "panorama",
            "panorama/application.py",
            "panorama/lib",
            "panorama/lib/helper.py",
            "panorama/run.sh",
        ]
        assert archive.extractfile("panorama/application.py").read() == b"print('hello')\n"
        assert {(m.mtime, m.uid, m.gid) for m in members.values()} == {(0, 0, 0)}
        assert members["panorama/run.sh"].mode == 0o755
        assert members["panorama/application.py"].mode == 0o644
        assert members["panorama/lib"].isdir()
    raw = (project / "assets" / first).read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    # New timestamps, a permission change that keeps the exec bits and a __pycache__: same bytes.
    src = project / CODE / "src"
    for path in src.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    (src / "application.py").chmod(0o664)
    (src / "lib" / "__pycache__").mkdir()
    (src / "lib" / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"\0")
    again = _build(cli, project)
    assert again.code == 0 and "Updating an existing asset with the same name" in again.out
    assert _archives(project) == [first]
    assert (project / CODE / "package.json").read_bytes() == package_before


def test_rebuilding_keeps_requirements_and_deletes_the_old_archive(cli, project):
    assert _build(cli, project).code == 0
    [first] = _archives(project)
    path = project / CODE / "package.json"
    package = load(path)
    requirements = [
        {
            "type": "hardware_access",
            "inferenceAccelerators": [
                {"deviceType": "nvhost_gpu", "sharedResourcePolicy": {"policy": "allow_all"}}
            ],
        }
    ]
    package["nodePackage"]["assets"][0]["implementations"][0]["requirements"] = requirements
    path.write_text(json.dumps(package, indent=4))
    (project / CODE / "src" / "application.py").write_text("print('changed')\n")
    result = _build(cli, project)
    assert result.code == 0
    [second] = _archives(project)
    assert second != first and f"Deleting old asset {first}" in result.out
    implementation = load(path)["nodePackage"]["assets"][0]["implementations"][0]
    assert implementation["assetUri"] == second
    assert implementation["requirements"] == requirements


def test_a_new_asset_gets_an_interface_and_a_graph_node(cli, project):
    result = _build(cli, project, "worker", "--local-image")
    assert result.code == 0
    assert "--local-image has no effect" in result.out
    package = load(project / CODE / "package.json")["nodePackage"]
    assert [a["name"] for a in package["assets"]] == ["worker"]
    assert package["interfaces"][-1] == {
        "name": "worker_interface",
        "category": "business_logic",
        "asset": "worker",
        "inputs": [{"name": "video_in", "type": "media"}],
        "outputs": [{"name": "video_out", "type": "media"}],
    }
    nodes = load(project / "graphs" / "my-app" / "graph.json")["nodeGraph"]["nodes"]
    assert nodes[-1] == {
        "name": "worker_node",
        "interface": f"{SAMPLE_ACCOUNT}::SAMPLE_CODE.worker_interface",
        "overridable": False,
        "launch": "onAppStart",
    }
    # A second asset is appended after the first.
    assert _build(cli, project, "code_asset").code == 0
    names = [a["name"] for a in load(project / CODE / "package.json")["nodePackage"]["assets"]]
    assert names == ["worker", "code_asset"]


def test_a_package_without_src_packs_its_folder_without_package_json(cli, project):
    shutil.rmtree(project / CODE / "src")
    result = _build(cli, project)
    assert result.code == 0 and "has no src/ folder" in result.out
    [archive] = _archives(project)
    with tarfile.open(project / "assets" / archive) as tar:
        assert tar.getnames() == [
            "descriptor.json",
            "panorama",
            "panorama/descriptor.json",
            "panorama/squeezenet_classes.json",
        ]
    assert _build(cli, project).code == 0
    assert _archives(project) == [archive]  # package.json changed, the archive did not


def test_build_container_errors(cli, project):
    missing = cli(
        "build-container", "--container-asset-name", "a", "--package-path", "packages/nope-x-1.0",
        cwd=project,
    )  # fmt: skip
    assert missing.code == 1 and "no such package folder" in missing.err
    usage = cli("build-container", "--package-path", CODE, cwd=project)
    assert usage.code == 2 and "--container-asset-name" in usage.err


def _model_archive(tmp_path, content=b"model weights"):
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("model.pth")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return path


def _add_model(cli, project, model, *packages, name="model_asset"):
    paths = ["--packages-path", *packages] if packages else []
    return cli(
        "add-raw-model", "--model-asset-name", name, "--model-local-path", model,
        "--descriptor-path", f"{MODEL}/descriptor.json", *paths, cwd=project,
    )  # fmt: skip


def test_add_raw_model_replaces_the_sample_model(cli, project, tmp_path):
    model = _model_archive(tmp_path)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    graph_before = (project / "graphs" / "my-app" / "graph.json").read_bytes()
    result = _add_model(cli, project, model, MODEL)
    assert result.code == 0, result.err
    assert (project / "assets" / f"{sha}.tar.gz").read_bytes() == model.read_bytes()
    assert not (project / "assets" / "model_asset.tar.gz").exists()
    package = load(project / MODEL / "package.json")["nodePackage"]
    assert package["assets"] == [
        {
            "name": "model_asset",
            "implementations": [
                {"type": "model", "assetUri": f"{sha}.tar.gz", "descriptorUri": MODEL_DESCRIPTOR}
            ],
        }
    ]
    assert [i["name"] for i in package["interfaces"]] == ["interface"]
    assert (project / "graphs" / "my-app" / "graph.json").read_bytes() == graph_before
    assert "Updating an existing asset with the same name" in result.out


def test_a_new_model_is_prepended_with_an_interface_and_a_node_without_suffix(
    cli, project, tmp_path
):
    first = _add_model(cli, project, _model_archive(tmp_path, b"one"), MODEL, name="detector")
    assert first.code == 0, first.err
    package = load(project / MODEL / "package.json")["nodePackage"]
    assert [a["name"] for a in package["assets"]] == ["detector", "model_asset"]
    assert package["interfaces"][-1]["name"] == "detector_interface"
    assert package["interfaces"][-1]["category"] == "ml_model"
    nodes = load(project / "graphs" / "my-app" / "graph.json")["nodeGraph"]["nodes"]
    assert nodes[-1] == {
        "name": "detector",
        "interface": f"{SAMPLE_ACCOUNT}::SQUEEZENET_PYTORCH.detector_interface",
        "overridable": False,
        "launch": "onAppStart",
    }
    old = package["assets"][0]["implementations"][0]["assetUri"]
    second = _add_model(cli, project, _model_archive(tmp_path, b"two"), MODEL, name="detector")
    assert f"Deleting old asset {old}" in second.out
    assert not (project / "assets" / old).exists()
    package = load(project / MODEL / "package.json")["nodePackage"]
    assert [a["name"] for a in package["assets"]] == ["detector", "model_asset"]
    assert len(package["interfaces"]) == 2


def test_add_raw_model_without_packages_only_prints_the_asset(cli, project, tmp_path):
    before = (project / MODEL / "package.json").read_bytes()
    result = _add_model(cli, project, _model_archive(tmp_path))
    assert result.code == 0
    assert "Copy the following in the assets section of package.json" in result.out
    assert '"type": "model"' in result.out
    assert (project / MODEL / "package.json").read_bytes() == before


def test_add_raw_model_errors(cli, project, tmp_path, monkeypatch):
    missing = _add_model(cli, project, tmp_path / "nope.tar.gz", MODEL)
    assert (
        missing.code == 1 and "--model-local-path" in missing.err and "no such file" in missing.err
    )
    both = cli(
        "add-raw-model", "--model-asset-name", "m", "--model-local-path", "a", "--model-s3-uri",
        "s3://b/k", "--descriptor-path", "d", cwd=project,
    )  # fmt: skip
    assert both.code == 2 and "not allowed with argument" in both.err
    # S3 without credentials or endpoint fails with a message saying what is needed.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    s3 = cli(
        "add-raw-model", "--model-asset-name", "m", "--model-s3-uri", "s3://bucket/model.tar.gz",
        "--descriptor-path", f"{MODEL}/descriptor.json", cwd=project,
    )  # fmt: skip
    assert s3.code == 1
    assert "cannot download s3://bucket/model.tar.gz" in s3.err
    assert "--model-local-path" in s3.err
    bad_uri = cli(
        "add-raw-model", "--model-asset-name", "m", "--model-s3-uri", "https://x/y",
        "--descriptor-path", f"{MODEL}/descriptor.json", cwd=project,
    )  # fmt: skip
    assert bad_uri.code == 1 and "expected s3://BUCKET/KEY" in bad_uri.err
