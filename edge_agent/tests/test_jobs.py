"""REBOOT and OTA jobs with real release bundles of this checkout, and the version bootstrap."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import edge_agent
from devicelink import auth
from devicelink.messages import Desired, JobSpec
from devicelink.releases import sign_release
from edge_agent import bootstrap
from edge_agent.bootstrap import BOOTSTRAP_ENV
from edge_agent.config import AgentPaths
from edge_agent.reset import soft_reset
from edge_agent.software import Software, restart_environment
from tests.support.agents import (
    SOURCE_ROOT,
    FakeRestarter,
    bundle,
    make_runner,
    ota_spec,
)


def test_ota_installs_verifies_and_switches_current(tmp_path, monkeypatch):
    runner, recorder, paths = make_runner(tmp_path)
    spec = ota_spec("0.2.0")
    asyncio.run(runner.handle_desired(Desired(version=4, jobs=[spec])))
    assert recorder.statuses(spec.job_id) == ["DOWNLOADING", "VERIFYING", "IN_PROGRESS",
                                              "REBOOTING"]  # fmt: skip
    assert runner.restarter.restarts == 1
    assert paths.current.read_text().strip() == "0.2.0"
    installed = paths.software / "0.2.0"
    assert '__version__ = "0.2.0"' in (installed / "edge_agent" / "__init__.py").read_text()
    assert (installed / "devicelink" / "releases.py").exists()
    assert not (paths.software / "0.2.0.partial").exists()
    assert (paths.bundles / "0.2.0.tar.gz").read_bytes() == bundle("0.2.0")
    state = json.loads(paths.state.read_text())
    # Not applied yet: the console sends desired state 4 again after the restart.
    assert state["rebooting"]["job_id"] == spec.job_id and state["applied_version"] == 0
    # After the restart the new version runs: COMPLETED, and the job is never run again.
    monkeypatch.setattr(edge_agent, "__version__", "0.2.0")
    runner2, recorder2, _ = make_runner(tmp_path)
    runner2.resume()
    assert recorder2.statuses(spec.job_id) == ["COMPLETED"]
    asyncio.run(runner2.handle_desired(Desired(version=4, jobs=[spec])))
    assert recorder2.statuses(spec.job_id) == ["COMPLETED"]
    assert runner2.restarter.restarts == 0


@pytest.mark.parametrize(
    ("version", "tamper", "extra", "reason"),
    [
        ("0.2.0", "bytes", {}, "The bundle's sha256 "),
        ("0.2.0", "signature", {},
         "The signature of release 0.2.0 does not verify with the console's release key."),
        ("0.0.9", "", {},
         "Version 0.0.9 is older than the installed 0.1.0; downgrades are refused."),
        ("1.0.0", "", {}, "Version 1.0.0 is a major-version update from 0.1.0; it needs "
                          "AllowMajorVersionUpdate."),
        ("0.2.0", "size", {}, "bytes, not the"),
        ("0.2.0", "", {"bundle_path": ""}, "The console has no bundle for version 0.2.0"),
    ],
)  # fmt: skip
def test_a_bad_or_forbidden_update_fails_and_keeps_the_old_version(
    tmp_path, version, tamper, extra, reason
):
    data = bundle(version)
    spec = ota_spec(version, **extra)
    served = data
    if tamper == "bytes":
        served = data[:-10] + bytes(10)
        spec.size = len(served)
    elif tamper == "signature":
        spec.signature = sign_release(auth.generate_private_key(), version, spec.sha256)
    elif tamper == "size":
        spec.size = len(data) + 1
    runner, recorder, paths = make_runner(tmp_path, served=served)
    asyncio.run(runner.handle_desired(Desired(version=1, jobs=[spec])))
    assert recorder.statuses(spec.job_id)[-1] == "FAILED"
    assert reason in recorder.reason(spec.job_id)
    assert not paths.current.exists() and not (paths.software / version).exists()
    assert runner.restarter.restarts == 0
    assert json.loads(paths.state.read_text())["finished_jobs"][spec.job_id] == "FAILED"


def test_a_major_update_is_allowed_when_the_job_says_so(tmp_path):
    runner, recorder, paths = make_runner(tmp_path)
    spec = ota_spec("1.0.0", allow_major_version_update=True)
    asyncio.run(runner.handle_desired(Desired(version=1, jobs=[spec])))
    assert recorder.statuses(spec.job_id)[-1] == "REBOOTING"
    assert paths.current.read_text().strip() == "1.0.0"


def test_an_ota_whose_restart_fails_goes_back_to_the_old_version(tmp_path):
    runner, recorder, paths = make_runner(tmp_path, restarter=FakeRestarter(fail=True))
    spec = ota_spec("0.2.0")
    asyncio.run(runner.handle_desired(Desired(version=1, jobs=[spec])))
    assert recorder.statuses(spec.job_id)[-2:] == ["REBOOTING", "FAILED"]
    assert "exited with 1" in recorder.reason(spec.job_id)
    assert Software(paths).installed_version() is None
    assert json.loads(paths.state.read_text())["rebooting"] is None


def test_a_new_version_that_did_not_come_up_is_reported_failed(tmp_path):
    runner, _recorder, paths = make_runner(tmp_path)
    spec = ota_spec("0.2.0")
    asyncio.run(runner.handle_desired(Desired(version=1, jobs=[spec])))
    runner2, recorder2, _ = make_runner(tmp_path)  # still runs 0.1.0 after the "restart"
    runner2.resume()
    assert recorder2.statuses(spec.job_id) == ["FAILED"]
    assert "runs 0.1.0, not 0.2.0" in recorder2.reason(spec.job_id)
    assert Software(paths).installed_version() is None


def test_reboot_job_reports_and_completes_after_the_restart(tmp_path):
    runner, recorder, _paths = make_runner(tmp_path)
    spec = JobSpec(job_id="job-reboot-1", job_type="REBOOT")
    asyncio.run(runner.handle_desired(Desired(version=2, jobs=[spec])))
    assert recorder.statuses("job-reboot-1") == ["IN_PROGRESS", "REBOOTING"]
    assert runner.pending_job() == "job-reboot-1"
    runner2, recorder2, _ = make_runner(tmp_path)
    runner2.resume()
    runner2.resume()  # only once
    assert recorder2.statuses("job-reboot-1") == ["COMPLETED"]
    asyncio.run(runner2.handle_desired(Desired(version=2, jobs=[spec])))
    assert recorder2.statuses("job-reboot-1") == ["COMPLETED"]
    assert runner2.restarter.restarts == 0 and runner2.pending_job() is None


def _version_of(data_dir: Path, *args: str, env: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "version", *args],
        capture_output=True, text=True, timeout=60, cwd=SOURCE_ROOT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_bootstrap_runs_the_installed_version(tmp_path):
    data = tmp_path / "data"
    assert _version_of(data, "--data-dir", str(data)) == f"0.1.0 {SOURCE_ROOT / 'edge_agent'}"
    software = Software(AgentPaths(data))
    software.install(bundle("0.2.0"), "0.2.0", sha256="", signature="")
    expected = f"0.2.0 {(data / 'software' / '0.2.0' / 'edge_agent').resolve()}"
    assert _version_of(data, "--data-dir", str(data)) == expected
    assert _version_of(data, env={"VANTAGE_AGENT_DATA_DIR": str(data)}) == expected
    assert _version_of(data, f"--data-dir={data}") == expected
    # current naming a version that is not installed: the built-in one runs.
    software.switch_current("0.3.0")
    assert _version_of(data, "--data-dir", str(data)).startswith("0.1.0 ")


def test_bootstrap_plan_does_not_loop(tmp_path):
    data = tmp_path / "data"
    Software(AgentPaths(data)).install(bundle("0.2.0"), "0.2.0", sha256="", signature="")
    folder = data / "software" / "0.2.0"
    argv = ["run", "--data-dir", str(data)]
    command, env = bootstrap.plan(argv, {"PYTHONPATH": "/opt/x"}, SOURCE_ROOT)
    assert command[1:] == ["-P", "-m", "edge_agent", *argv]
    assert env["PYTHONPATH"] == f"{folder}{os.pathsep}/opt/x"
    assert bootstrap.plan(argv, env, SOURCE_ROOT) is None  # started for it already
    assert bootstrap.plan(argv, {}, folder) is None  # already running from it
    assert bootstrap.plan(["bundle", "--data-dir", str(data)], {}, SOURCE_ROOT) is None
    # A restart undoes the bootstrap's additions and starts from the first agent's folder.
    restored = restart_environment(env)
    assert BOOTSTRAP_ENV not in restored
    assert restored["PYTHONPATH"] == f"{SOURCE_ROOT}{os.pathsep}/opt/x"


def test_soft_reset_reinstalls_the_kept_bundle_and_refuses_a_changed_one(tmp_path, capsys):
    runner, _, paths = make_runner(tmp_path)
    assert soft_reset(paths) == 0
    assert "nothing to reinstall" in capsys.readouterr().out
    spec = ota_spec("0.2.0")
    asyncio.run(runner.handle_desired(Desired(version=1, jobs=[spec])))
    (paths.software / "0.2.0" / "edge_agent" / "__init__.py").write_text("broken")
    assert soft_reset(paths) == 0
    assert "Reinstalled software 0.2.0" in capsys.readouterr().out
    init = (paths.software / "0.2.0" / "edge_agent" / "__init__.py").read_text()
    assert '__version__ = "0.2.0"' in init
    kept = paths.bundles / "0.2.0.tar.gz"
    kept.write_bytes(kept.read_bytes() + b"x")
    assert soft_reset(paths) == 1
    assert "it was changed" in capsys.readouterr().out
