"""Assets: sha256 checks, resumed downloads, unsafe archives, one download for two instances.
Real files and a real HTTP file server, as in test_apps.py."""

from __future__ import annotations

import os

from edge_agent.apps.assets import AssetCache
from tests.support.agents import Reports, code_node, container, make_spec, make_supervisor, run


def test_a_wrong_sha256_is_an_install_error_naming_the_node(tmp_path, server):
    data = container()
    asset = server.add(data, served=data[:-10] + b"0123456789")
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([make_spec(1, [code_node(asset)])])
            await supervisor.settle(30)
        finally:
            await supervisor.close()

    run(main)
    assert reports.statuses() == ["INSTALL_IN_PROGRESS", "INSTALL_ERROR"]
    assert reports.last()["message"] == (
        f"code_node: asset {asset['sha256'][:4]}… failed its sha256 check"
    )
    assert not list((tmp_path / "apps" / "assets").iterdir())  # neither the file nor a part


def test_an_interrupted_download_resumes_with_range(tmp_path, server):
    data = os.urandom(300_000)
    asset = server.add(data)
    server.cut[asset["path"]] = 120_000
    cache = AssetCache(tmp_path, server.url, lambda path: "sig", None, retry_s=0.01)

    path = cache.fetch(asset["sha256"], asset["size"], asset["path"])

    assert path.read_bytes() == data
    assert server.gets(asset["path"]) == [None, "bytes=120000-"]
    # A part left by an earlier agent run is resumed as well.
    other = os.urandom(50_000)
    second = server.add(other)
    (tmp_path / f"{second['sha256']}.part").write_bytes(other[:20_000])
    assert cache.fetch(second["sha256"], second["size"], second["path"]).read_bytes() == other
    assert server.gets(second["path"]) == ["bytes=20000-"]


def test_unsafe_container_assets_are_refused(tmp_path, server):
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("panorama/../../escape.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    asset = server.add(raw.getvalue())
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.apply([make_spec(1, [code_node(asset)])])
        await supervisor.settle(30)
        await supervisor.close()

    run(main)
    assert reports.last()["status"] == "INSTALL_ERROR"
    assert "outside panorama/" in reports.last()["message"]
    assert not (tmp_path / "escape.py").exists() and not (tmp_path / "apps" / "escape.py").exists()


def test_two_instances_share_one_download_of_an_asset(tmp_path, server):
    data = container()
    asset = server.add(data)
    server.cut[asset["path"]] = len(data) // 2
    second = "applicationInstance-0000000000000000000000two0"
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply(
                [make_spec(1, [code_node(asset)]), make_spec(1, [code_node(asset)], iid=second)]
            )
            await supervisor.settle(30)
        finally:
            await supervisor.close()

    run(main)
    assert reports.last()["status"] == reports.last(second)["status"] == "RUNNING"
    assert server.gets(asset["path"]) == [None, f"bytes={len(data) // 2}-"]
