"""init-project, create-package, add-panorama-package and import-application, offline."""

from __future__ import annotations

import json

import pytest

from tests.support.cli_project import (
    ACCOUNT,
    CLI_RESOURCES,
    SAMPLE_ACCOUNT,
    copy_sample,
    load,
)
from vantage_cli import templates


@pytest.fixture
def app(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("VANTAGE_ACCOUNT_ID", ACCOUNT)
    assert cli("init-project", "--name", "my_app", cwd=tmp_path).code == 0
    return tmp_path / "my_app"


def test_init_project_writes_panorama_clis_skeleton(cli, tmp_path, app):
    assert sorted(p.relative_to(app).as_posix() for p in app.rglob("*")) == [
        "assets",
        "graphs",
        "graphs/my_app",
        "graphs/my_app/graph.json",
        "packages",
    ]
    graph = app / "graphs" / "my_app" / "graph.json"
    reference = load(CLI_RESOURCES / "project_skeleton" / "graphs" / "graph.json")
    assert load(graph) == reference
    assert graph.read_text() == json.dumps(reference, indent=4)
    again = cli("init-project", "--name", "my_app", cwd=tmp_path)
    assert again.code == 0 and "Application my_app already exists" in again.out


def test_commands_need_the_application_folder(cli, tmp_path):
    result = cli("add-panorama-package", "--type", "camera", "--name", "cam", cwd=tmp_path)
    assert result.code == 1
    assert "is not an application folder (it lacks assets/, graphs/, packages/)" in result.err
    assert "init-project" in result.err


def test_create_container_package(cli, app):
    result = cli("create-package", "--name", "code", cwd=app)
    assert result.code == 0, result.err
    folder = app / "packages" / f"{ACCOUNT}-code-1.0"
    assert sorted(p.name for p in folder.iterdir()) == [
        "Dockerfile",
        "descriptor.json",
        "package.json",
        "src",
    ]
    package = load(folder / "package.json")
    skeleton = load(CLI_RESOURCES / "package_skeleton" / "package.json")
    skeleton["nodePackage"].update(name="code", description="Default description for package code")
    assert package == skeleton
    assert load(folder / "descriptor.json") == load(
        CLI_RESOURCES / "package_skeleton" / "descriptor.json"
    )
    assert "COPY src /panorama" in (folder / "Dockerfile").read_text()
    graph = load(app / "graphs" / "my_app" / "graph.json")["nodeGraph"]
    assert graph["packages"] == [{"name": f"{ACCOUNT}::code", "version": "1.0"}]
    assert graph["nodes"] == []  # a container gets its node from build-container
    again = cli("create-package", "--name", "code", cwd=app)
    assert "Package code already exists" in again.out
    assert len(load(app / "graphs" / "my_app" / "graph.json")["nodeGraph"]["packages"]) == 1


def test_create_model_package_with_another_version(cli, app):
    assert (
        cli("create-package", "--name", "m", "--type", "Model", "--version", "2.1", cwd=app).code
        == 0
    )
    folder = app / "packages" / f"{ACCOUNT}-m-2.1"
    assert sorted(p.name for p in folder.iterdir()) == ["descriptor.json", "package.json"]
    assert load(folder / "package.json")["nodePackage"]["version"] == "2.1"
    assert load(folder / "descriptor.json") == templates.model_descriptor()
    graph = load(app / "graphs" / "my_app" / "graph.json")["nodeGraph"]
    assert graph["packages"] == [{"name": f"{ACCOUNT}::m", "version": "2.1"}]


@pytest.mark.parametrize(
    ("kind", "resource", "interface"),
    [("Camera", "camera_package.json", "rtsp_interface"),
     ("Datasink", "datasink_package.json", "sink_interface")],
)  # fmt: skip
def test_create_camera_and_datasink_packages(cli, app, kind, resource, interface):
    assert cli("create-package", "--name", "dev", "--type", kind, cwd=app).code == 0
    package = load(app / "packages" / f"{ACCOUNT}-dev-1.0" / "package.json")["nodePackage"]
    reference = load(CLI_RESOURCES / resource)["nodePackage"]
    assert package["assets"] == reference["assets"]
    assert package["interfaces"] == reference["interfaces"]
    assert package["name"] == "dev"
    assert package["description"] == "Default description for package dev"
    graph = load(app / "graphs" / "my_app" / "graph.json")["nodeGraph"]
    assert graph["nodes"] == [
        {
            "name": "dev",
            "interface": f"{ACCOUNT}::dev.{interface}",
            "overridable": False,
            "launch": "onAppStart",
        }
    ]


def test_create_package_flags_and_bad_arguments(cli, app):
    assert cli("create-package", "--name", "cam", "-camera", cwd=app).code == 0
    assert (
        "rtsp_interface" in (app / "packages" / f"{ACCOUNT}-cam-1.0" / "package.json").read_text()
    )
    bad_type = cli("create-package", "--name", "x", "--type", "Lambda", cwd=app)
    assert bad_type.code == 2 and "invalid choice: 'Lambda'" in bad_type.err
    bad_version = cli("create-package", "--name", "x", "--version", "1", cwd=app)
    assert bad_version.code == 1 and "a package version is <major>.<minor>" in bad_version.err
    bad_name = cli("create-package", "--name", "a b", cwd=app)
    assert bad_name.code == 1 and "letters, digits" in bad_name.err


def test_create_package_asks_the_console_for_the_account(cli, app, console, monkeypatch):
    monkeypatch.delenv("VANTAGE_ACCOUNT_ID")
    console.account_id = "999988887777"
    assert cli("create-package", "--name", "code", cwd=app).code == 0
    assert (app / "packages" / "999988887777-code-1.0").is_dir()
    assert console.calls("GET") == ["/api/installation/"]


def test_add_panorama_packages(cli, app):
    graph_path = app / "graphs" / "my_app" / "graph.json"
    assert cli("add-panorama-package", "--type", "camera", "--name", "cam1", cwd=app).code == 0
    assert cli("add-panorama-package", "--type", "camera", "--name", "cam2", cwd=app).code == 0
    assert cli("add-panorama-package", "--type", "data_sink", "--name", "out", cwd=app).code == 0
    graph = load(graph_path)["nodeGraph"]
    assert graph["packages"] == [
        {"name": "panorama::abstract_rtsp_media_source", "version": "1.0"},
        {"name": "panorama::hdmi_data_sink", "version": "1.0"},
    ]
    assert graph["nodes"][0] == {
        "name": "cam1",
        "interface": "panorama::abstract_rtsp_media_source.rtsp_v1_interface",
        "overridable": True,
        "launch": "onAppStart",
        "decorator": {"title": "Camera cam1", "description": "Default description for camera cam1"},
    }
    assert graph["nodes"][2] == {
        "name": "out",
        "interface": "panorama::hdmi_data_sink.hdmi0",
        "overridable": False,
        "launch": "onAppStart",
    }
    before = graph_path.read_bytes()
    again = cli("add-panorama-package", "--type", "data_sink", "--name", "cam1", cwd=app)
    assert again.code == 0 and "Package cam1 already exists" in again.out
    assert graph_path.read_bytes() == before
    wrong = cli("add-panorama-package", "--type", "hdmi", "--name", "x", cwd=app)
    assert wrong.code == 2 and "invalid choice" in wrong.err


def test_import_application_moves_the_sample_to_this_account(cli, tmp_path, console):
    project = copy_sample(tmp_path)
    overrides = {p.name: p.read_bytes() for p in (project / "graphs" / "my-app").glob("over*")}
    original = load(project / "graphs" / "my-app" / "graph.json")["nodeGraph"]
    result = cli("import-application", cwd=project)
    assert result.code == 0, result.err
    assert "Successfully imported application" in result.out
    assert sorted(p.name for p in (project / "packages").iterdir()) == [
        f"{ACCOUNT}-SAMPLE_CODE-1.0",
        f"{ACCOUNT}-SQUEEZENET_PYTORCH-1.0",
    ]
    graph_text = (project / "graphs" / "my-app" / "graph.json").read_text()
    graph = json.loads(graph_text)["nodeGraph"]
    assert graph_text == json.dumps({"nodeGraph": graph}, indent=4)
    assert [p["name"] for p in graph["packages"]] == [
        f"{ACCOUNT}::SAMPLE_CODE",
        f"{ACCOUNT}::SQUEEZENET_PYTORCH",
        "panorama::abstract_rtsp_media_source",
        "panorama::hdmi_data_sink",
    ]
    interfaces = {n["name"]: n["interface"] for n in graph["nodes"]}
    assert interfaces["code_node"] == f"{ACCOUNT}::SAMPLE_CODE.interface"
    assert interfaces["model_node"] == f"{ACCOUNT}::SQUEEZENET_PYTORCH.interface"
    assert interfaces["output_node"] == "panorama::hdmi_data_sink.hdmi0"
    assert interfaces["region"] == "string"
    assert graph["edges"] == original["edges"]
    assert SAMPLE_ACCOUNT not in graph_text
    # The override files are not touched (panorama-cli leaves them, and so do we).
    assert {
        p.name: p.read_bytes() for p in (project / "graphs" / "my-app").glob("over*")
    } == overrides
    assert cli("import-application", cwd=project).code == 0  # a second run changes nothing
    assert (project / "graphs" / "my-app" / "graph.json").read_text() == graph_text


def test_import_application_without_a_console_says_so(cli, tmp_path):
    result = cli("import-application", cwd=copy_sample(tmp_path))
    assert result.code == 1 and "no console URL: set VANTAGE_URL" in result.err
