"""A stalled pipeline is reported: no frame of a camera taken for ``stall_s`` while frames keep
coming makes the camera node ERROR ("stalled: …"), and the first frame taken clears it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge_agent.apps.stalls import StallWatch, stall_seconds
from edge_agent.runtime.ring import FrameRing
from tests.support.agents import (
    IID,
    MEDIA,
    Reports,
    code_node,
    container,
    make_spec,
    make_supervisor,
    run,
)
from tests.support.waiting import eventually


class _Seen(list):
    def stall(self, camera: str, reason: str) -> None:
        self.append(("stall", camera, reason))

    def recover(self, camera: str) -> None:
        self.append(("recover", camera))


def test_the_watch_tells_a_stall_from_a_camera_nobody_reads():
    seen = _Seen()
    watch = StallWatch(10, seen.stall, seen.recover)
    # Nobody ever read: nothing is dropped, nothing is a stall.
    for second in range(30):
        watch.metrics("cam", {"frames": second * 10, "dropped": 0}, now=second)
    assert seen == []
    # A reader took frames up to second 30, then stopped: every new frame is dropped.
    for second in range(30, 45):
        watch.metrics("cam", {"frames": second * 10, "dropped": (second - 30) * 10}, now=second)
    assert seen == [
        (
            "stall", "cam",
            "stalled: the application has taken none of this camera's frames for 10 s "
            "(100 dropped); it may be blocked (see its logs)",
        )
    ]  # fmt: skip
    assert watch.stalled("cam")
    watch.metrics("cam", {"frames": 460, "dropped": 155}, now=46)  # taken again
    assert seen[-1] == ("recover", "cam") and not watch.stalled("cam")
    # A camera that receives nothing is not the application's stall.
    for second in range(46, 80):
        watch.metrics("cam", {"frames": 460, "dropped": 155}, now=second)
    assert len(seen) == 2


def test_the_stall_time_is_an_environment_setting(monkeypatch):
    monkeypatch.setenv("VANTAGE_AGENT_STALL_S", "12.5")
    assert stall_seconds() == 12.5
    monkeypatch.setenv("VANTAGE_AGENT_STALL_S", "soon")
    with pytest.raises(ValueError, match="VANTAGE_AGENT_STALL_S='soon' is not a number"):
        stall_seconds()


def test_an_application_that_stops_taking_frames_is_reported_stalled(tmp_path, server):
    if not MEDIA.is_file():
        pytest.skip(f"{MEDIA} (the shared test video) is not here")
    camera = {"name": "lobby", "kind": "camera", "stream": {"url": f"file://{MEDIA}"}}
    reports = Reports()
    figures: dict[str, float] = {}

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, stall_s=1.5)
        try:
            await supervisor.apply([make_spec(1, [code_node(server.add(container())), camera])])
            await supervisor.settle(30)
            await eventually(lambda: reports.node("lobby")["status"] == "RUNNING", 30)
            [folder] = Path("/dev/shm").glob(f"vantage-*-{IID}")  # noqa: S108
            ring = FrameRing.open(folder / "cam-lobby.ring")
            try:
                # The test is the application's reader: it takes a frame, then stops, as an
                # application blocked on a full pipe or a model call does.
                taken = await eventually(lambda: ring.take(0), 20, "a frame")
                stopped = time.monotonic()
                own = reports.node("lobby")["message"]  # the camera's own, back after the stall
                await eventually(lambda: reports.node("lobby")["status"] == "ERROR", 30)
                figures["detected_s"] = time.monotonic() - stopped
                assert reports.node("lobby")["message"].startswith(
                    "stalled: the application has taken none of this camera's frames for "
                )
                assert reports.last()["status"] == "RUNNING"  # the instance runs, unhealthy
                assert reports.last()["message"].startswith("lobby: stalled: ")
                resumed = time.monotonic()
                seq = taken.seq

                def take() -> bool:
                    nonlocal seq
                    frame = ring.take(0, newer_than=seq)
                    if frame is not None:
                        seq = frame.seq
                    return reports.node("lobby")["status"] == "RUNNING"

                await eventually(take, 30, "the camera RUNNING again")
                figures["recovered_s"] = time.monotonic() - resumed
                assert reports.node("lobby")["message"] == own
            finally:
                ring.close()
        finally:
            await supervisor.close()

    run(main)
    print(
        f"\nstall reported {figures['detected_s']:.1f} s after the last frame taken "
        f"(stall_s 1.5); cleared {figures['recovered_s']:.1f} s after frames were taken again"
    )
