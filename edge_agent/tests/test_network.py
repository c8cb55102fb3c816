"""Network status from psutil's structures, port mapping, and the two appliers."""

from __future__ import annotations

import logging
import socket

import psutil

from devicelink.network import NetworkPayload, NetworkStatus
from edge_agent.network import (
    DryRunApplier,
    NetworkManagerApplier,
    current_network_status,
    network_status,
    port_interfaces,
)

# psutil's own record types (named tuples), taken from this machine's loopback interface.
snicstats = type(next(iter(psutil.net_if_stats().values())))
snicaddr = type(next(iter(psutil.net_if_addrs().values()))[0])


def _stats(isup: bool, flags: str = "up,broadcast,running,multicast") -> snicstats:
    return snicstats(isup=isup, duplex=psutil.NIC_DUPLEX_FULL, speed=1000, mtu=1500, flags=flags)


STATS = {
    "lo": _stats(True, "up,loopback,running"),
    "docker0": _stats(True),
    "veth12ab": _stats(True),
    "enp3s0": _stats(True),
    "enp2s0": _stats(False),
    "wlp4s0": _stats(True),
}
ADDRS = {
    "lo": [snicaddr(socket.AF_INET, "127.0.0.1", "255.0.0.0", None, None)],
    "enp3s0": [
        snicaddr(socket.AF_INET6, "fe80::1%enp3s0", "ffff:ffff:ffff:ffff::", None, None),
        snicaddr(socket.AF_INET, "192.168.0.10", "255.255.255.0", "192.168.0.255", None),
        snicaddr(psutil.AF_LINK, "8e:0f:aa:bb:cc:dd", None, "ff:ff:ff:ff:ff:ff", None),
    ],
    "enp2s0": [snicaddr(psutil.AF_LINK, "8e:0f:aa:bb:cc:00", None, None, None)],
}
PAYLOAD = NetworkPayload.model_validate(
    {
        "Ethernet0": {"ConnectionType": "DHCP"},
        "Ethernet1": {
            "ConnectionType": "STATIC_IP",
            "StaticIpConnectionInfo": {
                "IpAddress": "10.0.0.20",
                "Mask": "255.255.254.0",
                "DefaultGateway": "10.0.0.1",
                "Dns": ["10.0.0.1", "8.8.8.8"],
            },
        },
        "Ntp": {"NtpServers": ["pool.ntp.org", "10.0.0.1:123"]},
    }
)


def test_ports_map_to_the_first_physical_interfaces_in_name_order():
    assert port_interfaces(STATS, env={}) == {"Ethernet0": "enp2s0", "Ethernet1": "enp3s0"}
    assert port_interfaces(STATS, env={"VANTAGE_AGENT_ETHERNET0": "wlp4s0"}) == {
        "Ethernet0": "wlp4s0",
        "Ethernet1": "enp2s0",
    }
    assert port_interfaces({"lo": STATS["lo"], "eth0": _stats(True)}, env={}) == {
        "Ethernet0": "eth0",
        "Ethernet1": None,
    }


def test_status_from_psutil_structures():
    status = network_status(STATS, ADDRS, ntp_servers=["time.example.com"], ntp_synced=True,
                            env={"VANTAGE_AGENT_ETHERNET0": "enp3s0"})  # fmt: skip
    assert status.model_dump() == {
        "Ethernet0Status": {
            "IpAddress": "192.168.0.10/24",
            "ConnectionStatus": "CONNECTED",
            "HwAddress": "8e:0f:aa:bb:cc:dd",
            "InterfaceName": "enp3s0",
        },
        "Ethernet1Status": {
            "IpAddress": "--",
            "ConnectionStatus": "NOT_CONNECTED",  # down and without IPv4
            "HwAddress": "8e:0f:aa:bb:cc:00",
            "InterfaceName": "enp2s0",
        },
        "NtpStatus": {
            "ConnectionStatus": "CONNECTED",
            "IpAddress": "--",
            "NtpServerName": "time.example.com",
        },
    }
    unsynced = network_status({}, {}, ntp_synced=None, env={})
    assert unsynced == NetworkStatus()


def test_the_real_machine_reports_something_valid():
    status = current_network_status(["pool.ntp.org"])
    NetworkStatus.model_validate(status.model_dump())
    assert status.NtpStatus.NtpServerName == "pool.ntp.org"


def test_dry_run_logs_exactly_what_it_would_set(caplog):
    caplog.set_level(logging.INFO)
    lines = DryRunApplier().apply(PAYLOAD, {"Ethernet0": "enp2s0", "Ethernet1": None})
    assert lines == [
        "Ethernet0 (enp2s0): DHCP",
        "Ethernet1 (no interface found): static IP 10.0.0.20, mask 255.255.254.0, gateway "
        "10.0.0.1, DNS 10.0.0.1, 8.8.8.8",
        "NTP servers: pool.ntp.org, 10.0.0.1:123",
    ]
    for line in lines:
        assert f"Network settings (dry run, nothing changed): {line}" in caplog.text


def test_networkmanager_commands():
    applier = NetworkManagerApplier()
    commands = applier.commands(PAYLOAD, {"Ethernet0": "enp2s0", "Ethernet1": "enp3s0"})
    assert commands == [
        ["nmcli", "connection", "delete", "vantage-Ethernet0"],
        ["nmcli", "connection", "add", "type", "ethernet", "ifname", "enp2s0", "con-name",
         "vantage-Ethernet0", "connection.autoconnect", "yes", "ipv4.method", "auto"],
        ["nmcli", "connection", "up", "vantage-Ethernet0"],
        ["nmcli", "connection", "delete", "vantage-Ethernet1"],
        ["nmcli", "connection", "add", "type", "ethernet", "ifname", "enp3s0", "con-name",
         "vantage-Ethernet1", "connection.autoconnect", "yes", "ipv4.method", "manual",
         "ipv4.addresses", "10.0.0.20/23", "ipv4.gateway", "10.0.0.1",
         "ipv4.dns", "10.0.0.1,8.8.8.8"],
        ["nmcli", "connection", "up", "vantage-Ethernet1"],
    ]  # fmt: skip
    assert applier.timesyncd_config(PAYLOAD) == "[Time]\nNTP=pool.ntp.org 10.0.0.1:123\n"
    # A port without an interface gets no commands.
    assert len(applier.commands(PAYLOAD, {"Ethernet0": "enp2s0", "Ethernet1": None})) == 3
