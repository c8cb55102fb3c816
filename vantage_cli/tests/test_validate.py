"""``vantage-cli validate``, run as the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import BASE_DIR

REFERENCE = BASE_DIR.parent / "shared" / "reference" / "panorama"
SAMPLE = REFERENCE / "aws-panorama-developer-guide" / "sample-apps" / "aws-panorama-sample"
CLI = str(Path(sys.executable).parent / "vantage-cli")


def _cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "validate", *map(str, args)], capture_output=True, text=True, timeout=60
    )


def test_sample_project_is_valid():
    result = _cli(SAMPLE)
    assert result.returncode == 0, result.stdout
    assert "valid graph" in result.stdout and "0 invalid" in result.stdout


def test_every_reference_manifest_but_the_cli_templates_is_valid():
    result = _cli(REFERENCE)
    invalid = {line.split(":", 1)[0] for line in result.stdout.splitlines() if ": /" in line}
    assert {Path(p).relative_to(REFERENCE).as_posix() for p in invalid} == {
        # Templates panorama-cli fills in before use.
        "aws-panorama-cli/panoramacli/resources/package_skeleton/package.json",
        "aws-panorama-cli/panoramacli/resources/project_skeleton/graphs/graph.json",
    }


def test_errors_name_file_pointer_and_hint_and_exit_1(tmp_path):
    project = tmp_path / "app"
    shutil.copytree(SAMPLE, project)
    graph_path = project / "graphs" / "my-app" / "graph.json"
    graph = json.loads(graph_path.read_text())
    graph["nodeGraph"]["edges"][0]["producer"] = "no_such_node.video_out"
    graph["nodeGraph"].pop("envelopeVersion")
    graph_path.write_text(json.dumps(graph))
    result = _cli(graph_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f'{graph_path}: /nodeGraph/envelopeVersion: "envelopeVersion" is required' in lines[0]
    assert any(
        line.startswith(f"{graph_path}: /nodeGraph/edges/0/producer: unknown node")
        for line in lines
    ), lines


def test_a_named_file_that_is_no_manifest_is_an_error(tmp_path):
    other = tmp_path / "classes.json"
    other.write_text('["cat", "dog"]')
    result = _cli(other)
    assert result.returncode == 1
    assert "not a graph, override, package.json or descriptor" in result.stdout
