"""package-application against a fake console: validation first, uploads, registration."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from tests.support.cli_project import ACCOUNT, SAMPLE_ACCOUNT, TOKEN, copy_sample, load

CODE = f"packages/{ACCOUNT}-SAMPLE_CODE-1.0"
MODEL = f"packages/{ACCOUNT}-SQUEEZENET_PYTORCH-1.0"
PATCH_LINE = re.compile(r"^Package (\S+) version (\S+) patch version ([0-9a-f]{64})$", re.M)


@pytest.fixture
def project(cli, tmp_path, console):
    """The sample, imported, built, with a 3 MiB model: ready to package."""
    project = copy_sample(tmp_path)
    assert cli("import-application", cwd=project).code == 0
    (project / CODE / "src").mkdir()
    (project / CODE / "src" / "application.py").write_text("print('hello')\n")
    built = cli(
        "build-container", "--container-asset-name", "code_asset", "--package-path", CODE,
        cwd=project,
    )  # fmt: skip
    assert built.code == 0, built.err
    model = tmp_path / "model.tar.gz"
    model.write_bytes(bytes(range(256)) * 12288)  # 3 MiB: several upload chunks
    added = cli(
        "add-raw-model", "--model-asset-name", "model_asset", "--model-local-path", model,
        "--descriptor-path", f"{MODEL}/descriptor.json", "--packages-path", MODEL, cwd=project,
    )  # fmt: skip
    assert added.code == 0, added.err
    console.requests.clear()
    return project


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _patches(output: str) -> dict[str, tuple[str, str]]:
    return {name: (version, patch) for name, version, patch in PATCH_LINE.findall(output)}


def test_package_application_uploads_registers_and_is_idempotent(cli, project, console):
    result = cli("package-application", cwd=project)
    assert result.code == 0, result.out + result.err
    patches = _patches(result.out)
    assert patches == {
        "SAMPLE_CODE": ("1.0", _sha(project / CODE / "package.json")),
        "SQUEEZENET_PYTORCH": ("1.0", _sha(project / MODEL / "package.json")),
    }
    # Four files: the code archive, the model, and the two descriptors, each sent once.
    assert len(console.assets) == 4 and len(console.calls("PUT")) == 4
    for sha, data in console.assets.items():
        assert hashlib.sha256(data).hexdigest() == sha
    puts = [headers for method, _path, headers in console.requests if method == "PUT"]
    assert all("Content-Length" in h and "Transfer-Encoding" not in h for h in puts)
    assert all(h["Content-Type"] == "application/octet-stream" for h in puts)
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for h in puts)
    assert any("filename=" in path for path in console.calls("PUT"))
    assert "(3145728/3145728 bytes) 100%" in result.err  # the progress bar, on stderr
    assert "4 file(s) uploaded, 0 already on the console" in result.out
    registered = {
        name: [p["patch"] for p in pkg["patches"]] for name, pkg in console.packages.items()
    }
    assert registered == {name: [patch] for name, (_v, patch) in patches.items()}

    console.requests.clear()
    again = cli("package-application", cwd=project)
    assert again.code == 0
    assert console.calls("PUT") == []
    assert again.out.count("the console has it already") == 4
    assert (
        len(re.findall(r"^  Patch version [0-9a-f]{64} already registered$", again.out, re.M)) == 2
    )
    assert "0 file(s) uploaded, 4 already on the console" in again.out
    assert _patches(again.out) == patches


def test_an_invalid_package_is_refused_before_anything_is_sent(cli, project, console):
    path = project / MODEL / "package.json"
    package = load(path)
    package["nodePackage"]["interfaces"][0]["category"] = "model"
    del package["nodePackage"]["envelopeVersion"]
    path.write_text(json.dumps(package, indent=4))
    descriptor = (
        project
        / "assets"
        / package["nodePackage"]["assets"][0]["implementations"][0]["descriptorUri"]
    )
    descriptor.write_text('{"mlModelDescriptor": {"envelopeVersion": "2021-01-01"}}')
    result = cli("package-application", cwd=project)
    assert result.code == 1
    assert console.requests == []  # not even the account ID was asked for
    lines = result.out.splitlines()
    assert (
        f'{MODEL}/package.json: /nodePackage/envelopeVersion: "envelopeVersion" is required'
        in lines[0]
    )
    assert any(
        line.startswith(f"{MODEL}/package.json: /nodePackage/interfaces/0/category:")
        for line in lines
    )
    assert any(line.startswith(f"assets/{descriptor.name}: /mlModelDescriptor/") for line in lines)
    assert "nothing was uploaded" in result.out


def test_missing_asset_files_are_reported_with_their_pointer(cli, project, console):
    archive = load(project / CODE / "package.json")["nodePackage"]["assets"][0]["implementations"][
        0
    ]
    (project / "assets" / archive["assetUri"]).unlink()
    result = cli("package-application", "--packages-path", CODE, cwd=project)
    assert result.code == 1 and console.requests == []
    assert (
        f"{CODE}/package.json: /nodePackage/assets/0/implementations/0/assetUri: "
        f"assets/{archive['assetUri']} does not exist"
    ) in result.out


def test_a_folder_name_that_disagrees_with_package_json_is_refused(cli, project, console):
    (project / CODE).rename(project / f"packages/{ACCOUNT}-OTHER-1.0")
    result = cli("package-application", cwd=project)
    assert result.code == 1 and console.requests == []
    assert "package.json says name 'SAMPLE_CODE', but its folder makes it 'OTHER'" in result.out


def test_a_new_patch_retires_the_previous_latest_one(cli, project, console):
    first = _patches(cli("package-application", "--packages-path", MODEL, cwd=project).out)
    path = project / MODEL / "package.json"
    package = load(path)
    package["nodePackage"]["description"] = "Changed"
    path.write_text(json.dumps(package, indent=4))
    console.requests.clear()
    result = cli("package-application", "--packages-path", MODEL, cwd=project)
    assert result.code == 0
    old, new = first["SQUEEZENET_PYTORCH"][1], _patches(result.out)["SQUEEZENET_PYTORCH"][1]
    assert f"Deregistered the previous latest patch version {old}" in result.out
    assert [p["patch"] for p in console.packages["SQUEEZENET_PYTORCH"]["patches"]] == [new]
    assert console.calls("PUT") == []  # the assets did not change


def test_a_patch_in_use_is_kept(cli, project, console):
    first = _patches(cli("package-application", "--packages-path", MODEL, cwd=project).out)
    console.in_use.add(first["SQUEEZENET_PYTORCH"][1])
    path = project / MODEL / "package.json"
    path.write_text(path.read_text() + "\n")
    result = cli("package-application", "--packages-path", MODEL, cwd=project)
    assert result.code == 0
    assert "Kept the previous patch version" in result.out and "used by app-1" in result.out


def test_the_consoles_refusal_is_printed_with_every_error(cli, project, console):
    console.register_errors = [
        {"path": "/nodePackage/version", "message": "too many versions", "hint": "deregister"},
        {"path": "", "message": "something else", "hint": ""},
    ]
    result = cli("package-application", "--packages-path", MODEL, cwd=project)
    assert result.code == 1
    assert (
        f"{MODEL}/package.json: /nodePackage/version: too many versions (deregister)" in result.out
    )
    assert f"{MODEL}/package.json: (document): something else" in result.out


def test_http_errors_show_the_consoles_detail(cli, project, console, monkeypatch):
    monkeypatch.setenv("VANTAGE_TOKEN", "vtg_wrong")
    result = cli("package-application", cwd=project)
    assert result.code == 1
    assert "GET /api/installation/: HTTP 401: Invalid token." in result.err
    assert "check the API token from VANTAGE_TOKEN" in result.err
    monkeypatch.setenv("VANTAGE_URL", "http://127.0.0.1:9")
    unreachable = cli("package-application", cwd=project)
    assert unreachable.code == 1
    assert "cannot reach the console at http://127.0.0.1:9" in unreachable.err


def test_an_asset_over_the_consoles_limit_is_refused_before_it_is_sent(cli, project, console):
    console.asset_max_bytes = 2 * 1024 * 1024  # the 3 MiB model is over it
    result = cli("package-application", "--packages-path", MODEL, cwd=project)
    assert result.code == 1
    assert re.search(
        r"[0-9a-f]{64}\.tar\.gz is 3\.0 MiB; the console takes assets of at most 2\.0 MiB "
        r"\(its ASSET_MAX_MIB\)\. Nothing was uploaded\.",
        result.err,
    ), result.err
    assert not console.calls("PUT") and not console.calls("POST")


def test_assets_past_the_consoles_quota_are_refused_before_any_is_sent(cli, project, console):
    console.asset_quota_left_bytes = 1024 * 1024
    result = cli("package-application", "--packages-path", MODEL, cwd=project)
    assert result.code == 1
    assert "the console's asset store has 1.0 MiB left of its quota (ASSET_QUOTA_GIB)" in (
        result.err
    ), result.err
    assert not console.calls("PUT") and not console.calls("POST")


def test_folders_named_for_another_account_get_a_warning(cli, project, console):
    console.account_id = "555566667777"
    result = cli("package-application", cwd=project)
    assert result.code == 0
    assert (
        "is named for account 210987654321, but this console's account is 555566667777"
        in result.err
    )
    assert SAMPLE_ACCOUNT not in result.out


def test_every_command_has_help(cli, tmp_path):
    for command in (
        "init-project", "create-package", "add-panorama-package", "build-container",
        "add-raw-model", "import-application", "package-application", "validate",
    ):  # fmt: skip
        result = cli(command, "--help", cwd=tmp_path)
        assert result.code == 0 and f"usage: vantage-cli {command}" in result.out


def test_a_repeated_packages_path_adds_to_the_list(cli, project, console):
    # argparse's nargs="+" alone kept only the last flag's folders, and reported success.
    result = cli("package-application", "--packages-path", CODE, "--packages-path", MODEL,
                 cwd=project)  # fmt: skip
    assert result.code == 0, result.out + result.err
    assert set(_patches(result.out)) == {"SAMPLE_CODE", "SQUEEZENET_PYTORCH"}
    assert set(console.packages) == {"SAMPLE_CODE", "SQUEEZENET_PYTORCH"}
