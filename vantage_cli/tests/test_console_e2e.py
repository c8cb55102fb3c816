"""vantage-cli against the real console: the developer guide's sample, built and registered.

The CLI runs as the installed console script, in a subprocess, as a developer would run it.
"""

from __future__ import annotations

import json
import re
import tarfile

import pytest

from applications.models import Asset
from tests.support.cli import ONNX_MODEL, imported_sample, ok, run_cli
from vantage_cli.client import Console

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

PATCH_LINE = re.compile(r"^Package (\S+) version (\S+) patch version ([0-9a-f]{64})$", re.M)


def _api(env: dict[str, str], path: str):
    console = Console(env["VANTAGE_URL"], env["VANTAGE_TOKEN"], token_source="test")
    return console.request("GET", path).body


def _console_patches(env: dict[str, str]) -> dict[str, list[tuple[str, str, bool]]]:
    return {
        package["name"]: [(p["version"], p["patch"], p["is_latest"]) for p in package["patches"]]
        for package in _api(env, "/api/packages/?limit=200")["results"]
    }


def test_the_sample_application_is_built_and_registered_once(env, tmp_path):
    project, account = imported_sample(env, tmp_path)
    code = f"packages/{account}-SAMPLE_CODE-1.0"
    model = f"packages/{account}-SQUEEZENET_PYTORCH-1.0"
    assert (project / code).is_dir() and (project / model).is_dir()

    ok(run_cli(env, project, "build-container", "--container-asset-name", "code_asset",
             "--package-path", code))  # fmt: skip
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(ONNX_MODEL, arcname=ONNX_MODEL.name)
    ok(run_cli(env, project, "add-raw-model", "--model-asset-name", "model_asset",
             "--model-local-path", archive, "--descriptor-path", f"{model}/descriptor.json",
             "--packages-path", model))  # fmt: skip
    assert "0 invalid" in ok(run_cli(env, project, "validate", "."))

    first = run_cli(env, project, "package-application")
    printed = {name: (version, patch) for name, version, patch in PATCH_LINE.findall(ok(first))}
    assert set(printed) == {"SAMPLE_CODE", "SQUEEZENET_PYTORCH"}
    assert "4 file(s) uploaded" in first.stdout
    assert "bytes) 100%" in first.stderr  # the upload progress
    console = _console_patches(env)
    for name, (version, patch) in printed.items():
        assert console[name] == [(version, patch, True)]
    package = json.loads((project / model / "package.json").read_text())["nodePackage"]
    model_file = project / "assets" / package["assets"][0]["implementations"][0]["assetUri"]
    assert Asset.objects.get(sha256=model_file.name[:64]).size == model_file.stat().st_size

    assets = Asset.objects.count()
    second = run_cli(env, project, "package-application")
    assert "0 file(s) uploaded, 4 already on the console" in ok(second)
    assert second.stdout.count("the console has it already") == 4
    assert "uploading" not in second.stderr
    assert {n: (v, p) for n, v, p in PATCH_LINE.findall(second.stdout)} == printed
    assert Asset.objects.count() == assets
    assert _console_patches(env) == console

    # A changed package.json is a new patch; the previous latest one is deregistered.
    path = project / model / "package.json"
    package = json.loads(path.read_text())
    package["nodePackage"]["description"] = "Person detector"
    path.write_text(json.dumps(package, indent=4))
    third = ok(run_cli(env, project, "package-application", "--packages-path", model))
    new_patch = PATCH_LINE.findall(third)[0][2]
    assert (
        f"Deregistered the previous latest patch version {printed['SQUEEZENET_PYTORCH'][1]}"
        in third
    )
    assert _console_patches(env)["SQUEEZENET_PYTORCH"] == [("1.0", new_patch, True)]
    assert Asset.objects.count() == assets


def test_an_invalid_package_is_refused_before_any_upload(env, tmp_path):
    project, account = imported_sample(env, tmp_path)
    code = f"packages/{account}-SAMPLE_CODE-1.0"
    # "code" is not the asset the sample's interface names ("code_asset"): package.json now
    # refers to an asset it does not define.
    ok(run_cli(env, project, "build-container", "--container-asset-name", "code",
             "--package-path", code))  # fmt: skip
    assets = Asset.objects.count()
    result = run_cli(env, project, "package-application")
    assert result.returncode == 1
    assert (
        f'{code}/package.json: /nodePackage/interfaces/0/asset: asset "code_asset" is not '
        "defined in assets"
    ) in result.stdout
    assert "nothing was uploaded" in result.stdout
    assert Asset.objects.count() == assets
    assert "SAMPLE_CODE" not in _console_patches(env)
