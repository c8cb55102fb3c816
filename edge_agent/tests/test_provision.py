"""Provisioning pieces that need no console: the key file, the USB logs, the serial number.

Provisioning from the USB archive against the real console is tested in
tests/e2e/test_agent_link.py.
"""

from __future__ import annotations

import logging
import stat

from edge_agent.config import AgentPaths
from edge_agent.identity import serial_number
from edge_agent.logs import UsbLogHandler


def test_key_file_is_never_wider_than_0600(tmp_path, monkeypatch):
    """The mode is set on the temporary file before the key is written into it."""
    import os

    from edge_agent import config
    from edge_agent.identity import create_device_key

    modes = []
    real_fchmod = os.fchmod

    def spy(fd, mode):
        modes.append((mode, stat.S_IMODE(os.fstat(fd).st_mode), os.fstat(fd).st_size))
        real_fchmod(fd, mode)

    monkeypatch.setattr(config.os, "fchmod", spy)
    paths = AgentPaths(tmp_path)
    create_device_key(paths)
    assert modes[0][0] == 0o600 and modes[0][1] & 0o077 == 0 and modes[0][2] == 0
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600


def test_provisioning_logs_on_the_usb_drive(tmp_path):
    usb = tmp_path / "usb"
    handler = UsbLogHandler(usb)
    logger = logging.getLogger("edge_agent.provision")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.error("The console refused certificates-omni_x.zip (HTTP 403): used")
        logging.getLogger("edge_agent.software").info("Installed software 2.0.0")
        logging.getLogger("edge_agent.software").addHandler(handler)
        logging.getLogger("edge_agent.software").info("Installed software 2.0.1")
    finally:
        logger.removeHandler(handler)
        logging.getLogger("edge_agent.software").removeHandler(handler)
    occ = (usb / "panorama" / "occ.log").read_text()
    assert "ERROR occ_log edge_agent.provision: The console refused" in occ
    assert "2.0.1" in (usb / "panorama" / "ota_agent.log").read_text()
    assert "refused" in (usb / "panorama" / "syslog.log").read_text()


def test_serial_number_is_twelve_stable_digits(tmp_path):
    machine = tmp_path / "machine-id"
    machine.write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    first = serial_number(tmp_path / "a", machine)
    assert first == serial_number(tmp_path / "a", machine)
    assert first != serial_number(tmp_path / "b", machine)
    assert len(first) == 12 and first.isdigit()
    assert serial_number(tmp_path / "a", tmp_path / "no-machine-id").isdigit()
