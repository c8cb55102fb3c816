"""A deleted or revoked appliance stops its applications, and a restarted agent starts none of
them, until the console sends a desired state again. Real processes, as in test_apps.py."""

from __future__ import annotations

import json

import psutil

from tests.support.agents import (
    IID,
    AssetServer,
    Reports,
    app_pid,
    code_node,
    container,
    make_spec,
    make_supervisor,
    run,
)
from tests.support.waiting import eventually


def test_a_revoked_appliance_stops_its_applications_for_good(tmp_path, server: AssetServer, caplog):
    spec = make_spec(1, [code_node(server.add(container()))])
    reports = Reports()
    apps = tmp_path / "apps"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            pid = app_pid(supervisor)
            assert pid is not None and psutil.pid_exists(pid)
            await supervisor.revoked("This device was deleted from the console.")
            await eventually(lambda: not psutil.pid_exists(pid), 10, "the app to stop")
        finally:
            await supervisor.close()
        assert json.loads((apps / "state.json").read_text()) == {"instances": {}}
        assert json.loads((apps / "revoked").read_text()) == {
            "reason": "This device was deleted from the console."
        }

        # The agent starts again: nothing is started, nothing is removed.
        again = make_supervisor(tmp_path, server, reports)
        try:
            await again.restore()
            await again.settle(10)
            assert again.instances == {} and app_pid(again) is None
            assert (apps / IID / "storage").is_dir()
            # The console knows the appliance again (it sent a desired state): it runs again.
            await again.apply_documents([spec.model_dump(mode="json")])
            await again.settle(30)
            assert app_pid(again) is not None and not (apps / "revoked").exists()
        finally:
            await again.close()

    run(main)
    assert "Stopped 1 application(s): this appliance was deleted" in caplog.text
    assert "No application is started: the console deleted this appliance" in caplog.text
