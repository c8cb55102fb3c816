"""GPU access for the code nodes whose package asks for it, checked on device trees the tests
build (CI has no GPU): what is found, what is bound, and a clear refusal without a GPU."""

from __future__ import annotations

from pathlib import Path

from devicelink.apps import needs_gpu
from edge_agent.apps import gpu, sandbox
from tests.support.agents import Reports, code_node, container, make_spec, make_supervisor, run

GPU = [{"type": "hardware_access", "inferenceAccelerators": [{"deviceType": "nvhost_gpu"}]}]


def tree(root: Path, *files: str) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    return root


def test_the_requirement_is_read_in_both_spellings():
    assert needs_gpu(GPU)
    assert needs_gpu([{"type": "hardware_access", "nvAccelerators": [{"deviceType": "x"}]}])
    assert not needs_gpu([{"type": "hardware_access", "inferenceAccelerators": []}])
    assert not needs_gpu([{"type": "ota", "minVersion": "3.0"}])
    assert not needs_gpu("hardware_access")


def test_an_nvidia_gpu_and_its_driver_libraries_are_found(tmp_path):
    root = tree(
        tmp_path, "dev/nvidia0", "dev/nvidiactl", "dev/nvidia-uvm", "dev/nvidia-caps/nvidia-cap1",
        "dev/sda", "usr/lib/x86_64-linux-gnu/libcuda.so.1",
        "usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.1", "usr/lib/x86_64-linux-gnu/libc.so.6",
    )  # fmt: skip
    access = gpu.detect(root)
    assert access is not None and access.kind == "nvidia"
    assert access.devices == (
        "/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl"
    )  # fmt: skip
    assert access.libraries == (
        "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.1"
    )  # fmt: skip
    assert gpu.accelerators(root) == ["nvidia"]
    args = gpu.bwrap_args(access, image=True)
    assert args[:3] == ["--dev-bind-try", "/dev/nvidia-caps/nvidia-cap1",
                        "/dev/nvidia-caps/nvidia-cap1"]  # fmt: skip
    assert args[-6:-3] == ["--ro-bind-try", "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "/opt/vantage/gpu/lib/libcuda.so.1"]  # fmt: skip
    # On the host's root the libraries are where they are: only the devices are bound.
    assert "--ro-bind-try" not in gpu.bwrap_args(access, image=False)


def test_a_jetson_module_is_found(tmp_path):
    root = tree(
        tmp_path, "dev/nvhost-ctrl-gpu", "dev/nvhost-gpu", "dev/nvmap",
        "usr/lib/aarch64-linux-gnu/tegra/libnvrm_gpu.so",
        "usr/lib/aarch64-linux-gnu/tegra/libcuda.so.1.1",
    )  # fmt: skip
    access = gpu.detect(root)
    assert access is not None and access.kind == "jetson"
    assert set(access.devices) == {"/dev/nvhost-ctrl-gpu", "/dev/nvhost-gpu", "/dev/nvmap"}
    assert "/usr/lib/aarch64-linux-gnu/tegra/libnvrm_gpu.so" in access.libraries


def test_the_container_toolkits_cdi_spec_is_preferred(tmp_path):
    root = tree(tmp_path, "dev/nvidia0", "usr/lib/x86_64-linux-gnu/libcuda.so.1")
    (root / "etc" / "cdi").mkdir(parents=True)
    (root / "etc" / "cdi" / "nvidia.yaml").write_text(
        "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n"
        "devices:\n- name: '0'\n  containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia0\n"
        "containerEdits:\n  deviceNodes:\n  - path: /dev/nvidiactl\n"
        "  mounts:\n  - hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05\n"
        "    containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05\n"
        "  - hostPath: /usr/bin/nvidia-smi\n    containerPath: /usr/bin/nvidia-smi\n"
    )
    access = gpu.detect(root)
    assert access is not None and access.source == "/etc/cdi/nvidia.yaml"
    assert access.devices == ("/dev/nvidia0", "/dev/nvidiactl")
    assert access.libraries == ("/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05",)


def test_no_gpu_no_accelerators(tmp_path):
    root = tree(tmp_path, "dev/null", "usr/lib/x86_64-linux-gnu/libc.so.6")
    assert gpu.detect(root) is None and gpu.accelerators(root) == []


def test_the_gpu_is_bound_after_the_sandboxs_own_dev(tmp_path):
    access = gpu.GpuAccess("nvidia", ("/dev/nvidia0",), ("/usr/lib/libcuda.so.1",))
    argv = sandbox.bwrap_argv(
        "bwrap", code=tmp_path, storage=tmp_path, logs=tmp_path, hostname="n", info_fd=None,
        block_fd=None, command=["python3"], rootfs=tmp_path, gpu=access,
    )  # fmt: skip
    assert argv.index("--dev-bind-try") > argv.index("--dev")
    assert argv[argv.index("--dev-bind-try") + 1 : argv.index("--dev-bind-try") + 3] == [
        "/dev/nvidia0", "/dev/nvidia0"
    ]  # fmt: skip
    assert "/opt/vantage/gpu/lib/libcuda.so.1" in argv
    # A node that does not ask gets nothing of it.
    plain = sandbox.bwrap_argv(
        "bwrap", code=tmp_path, storage=tmp_path, logs=tmp_path, hostname="n", info_fd=None,
        block_fd=None, command=["python3"], rootfs=tmp_path,
    )  # fmt: skip
    assert "--dev-bind-try" not in plain and "/opt/vantage/gpu" not in plain


def test_a_node_that_asks_for_a_gpu_on_an_appliance_without_one_is_a_launch_error(tmp_path, server):
    node = code_node(server.add(container()))
    node["assets"][0]["requirements"] = GPU
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(
            tmp_path / "data", server, reports, gpu_root=tree(tmp_path / "host", "dev/null")
        )
        try:
            await supervisor.apply([make_spec(1, [node])])
            await supervisor.settle(30)
        finally:
            await supervisor.close()

    run(main)
    last = reports.last()
    assert last["status"] == "LAUNCH_ERROR"
    assert last["message"].endswith(
        "code_node: its package asks for GPU access (hardware_access), and this appliance has no "
        "GPU (no /dev/nvidia* or /dev/nvhost-* device)"
    )
