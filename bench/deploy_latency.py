"""Deploy latency: from the deploy request to DEPLOYMENT_SUCCEEDED with health RUNNING.

    .venv/bin/python bench/deploy_latency.py [--runs 3]

It starts the console on the embedded defaults in a fresh folder (the run command's launcher:
uvicorn, Celery worker and beat), one local appliance (the real edge agent, provisioned with its
archive through its USB folder), registers a small code-only application (the shape of
Panorama's inbound_network sample) and deploys it ``--runs`` times, each time to a fresh
instance, timing request → DEPLOYMENT_SUCCEEDED + RUNNING. Then the same application as a
container image (its Dockerfile built on the base image, as ``build-container`` does) is
deployed twice: the first deploy downloads and unpacks the image (cold), the second finds it
in the appliance's image cache (warm); ``--no-image`` skips them. Panorama's documentation
puts a deployment at 15 to 20 minutes; the run prints its own time next to that.

The last line is the summary: ``deploy_s=<x> image_cold_s=<y> image_warm_s=<z>
status=<final status> health=<final health>``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.common import healthy, wait_until  # noqa: E402
from tests.support.launcher import launch_console  # noqa: E402
from tests.support.ports import free_host_port, free_port  # noqa: E402

PANORAMA_DOCUMENTED_S = (15 * 60, 20 * 60)


def build_image(folder: Path) -> Path:
    """The inbound_network app as a Dockerfile on the base image, built and exported as
    vantage-cli build-container does (the base image and layers come from the cache)."""
    from imagebuild.builder import build_and_export
    from tests.support.samples import APP_PY

    context = folder / "image-app"
    (context / "src").mkdir(parents=True)
    (context / "src" / "app.py").write_text(APP_PY)
    dockerfile = context / "Dockerfile"
    dockerfile.write_text("FROM public.ecr.aws/panorama/panorama-application\nCOPY src /panorama\n")
    tag = "localhost/vantage-bench/image-app"
    _, archive = build_and_export(context, dockerfile, tag, folder, progress=lambda line: None)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-image", action="store_true", help="skip the image app's deploys")
    args = parser.parse_args(argv)

    var_dir = Path(tempfile.mkdtemp(prefix="vantage-deploy-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        VANTAGE_VAR_DIR=str(var_dir),
        CONSOLE_URL=url,
        LIVE_RELAY_URL=url,
        DJANGO_SETTINGS_MODULE="console.settings",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    os.environ.update(env)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=BASE_DIR, env=env, check=True,
    )  # fmt: skip
    usb, data = var_dir / "appliance" / "usb", var_dir / "appliance" / "data"
    usb.mkdir(parents=True)
    processes = []
    processes.append(launch_console(port, env, var_dir / "console.log", new_session=True))
    with open(var_dir / "agent.log", "wb") as log:
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edge_agent",
                    "run",
                    "--usb-dir",
                    str(usb),
                    "--data-dir",
                    str(data),
                ],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        import django

        django.setup()
        from applications import deployments
        from applications.models import ApplicationInstance
        from devicelink.archive import archive_name
        from devices.models import Device
        from devices.provisioning import issue_archive
        from tests.support.deploy import (
            inbound_network_app,
            register_inbound_network_package,
        )

        wait_until(lambda: healthy(url), 120, "the console to start")
        device = Device.objects.create(name="bench-appliance")
        archive, _ = issue_archive(device)
        (usb / archive_name(device.name)).write_bytes(archive)
        wait_until(
            lambda: Device.objects.get(pk=device.pk).connection_status == "ONLINE",
            120,
            "the appliance to come online",
        )

        def deploy_once(name: str) -> tuple[float, tuple[str, str]]:
            graph, override = inbound_network_app(free_host_port())
            started = time.monotonic()
            instance = deployments.request_deployment(
                name=name,
                device=Device.objects.get(pk=device.pk),
                manifest_text=graph,
                overrides_text=override,
            )

            def settled(pk=instance.pk):
                current = ApplicationInstance.objects.get(pk=pk)
                terminal = current.is_terminal and (
                    current.status != "DEPLOYMENT_SUCCEEDED"
                    or current.health_status != "NOT_AVAILABLE"
                )
                return current if terminal else None

            final = wait_until(settled, 600, f"deployment {name} to finish", 0.05)
            elapsed = time.monotonic() - started
            outcome = (final.status, final.health_status)
            print(f"{name}: {elapsed:.2f} s → {outcome[0]} / {outcome[1]}")
            deployments.remove(final)
            wait_until(
                lambda pk=final.pk: (
                    ApplicationInstance.objects.get(pk=pk).is_terminal
                    and ApplicationInstance.objects.get(pk=pk).status.startswith("REMOVAL")
                ),
                120,
                "the removal",
            )
            return elapsed, outcome

        register_inbound_network_package()
        times, outcome = [], ("", "")
        for run in range(args.runs):
            elapsed, outcome = deploy_once(f"bench-{run + 1}")
            times.append(elapsed)
        image_times: list[float] = []
        if not args.no_image:
            # The same application in a container image built from a Dockerfile on the base
            # image (about 0.5 GiB unpacked): the first deploy downloads and unpacks it (cold),
            # the next finds it in the appliance's image cache (warm).
            register_inbound_network_package(image=build_image(var_dir))
            for label in ("image-cold", "image-warm"):
                elapsed, image_outcome = deploy_once(label)
                image_times.append(elapsed)
                outcome = outcome if image_outcome == outcome else image_outcome
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGINT)
                process.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
    median = statistics.median(times)
    low, high = PANORAMA_DOCUMENTED_S
    print(
        f"Panorama documents {low // 60}-{high // 60} minutes per deployment; the median here is "
        f"{median:.2f} s ({low / median:.0f}-{high / median:.0f} times faster)"
    )
    images = ""
    if image_times:
        images = f"image_cold_s={image_times[0]:.2f} image_warm_s={image_times[1]:.2f} "
    print(f"deploy_s={median:.2f} {images}status={outcome[0]} health={outcome[1]}")
    return 0 if outcome == ("DEPLOYMENT_SUCCEEDED", "RUNNING") else 1


if __name__ == "__main__":
    sys.exit(main())
