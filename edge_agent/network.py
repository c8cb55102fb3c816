"""The appliance's network: what it reports (NetworkStatus) and how it applies settings.

Ethernet0 and Ethernet1 are Panorama's two ports. On a generic Linux box they map to the first
two physical-looking interfaces in name order, unless VANTAGE_AGENT_ETHERNET0/_ETHERNET1 name
them. Settings from the archive go through an applier: ``DryRunApplier`` only logs what it
would set (the default, so a development machine's network is never touched), and
``NetworkManagerApplier`` runs ``nmcli`` (docs/agent.md lists the exact commands).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import psutil

from devicelink.network import EthernetStatus, NetworkPayload, NetworkStatus, NtpState
from edge_agent.config import ENV_ETHERNET0, ENV_ETHERNET1

logger = logging.getLogger("edge_agent.network")
PORTS = ("Ethernet0", "Ethernet1")
# Interfaces that are not a physical port: loopback, containers, bridges, tunnels, VPNs.
_VIRTUAL_PREFIXES = (
    "lo",
    "docker",
    "veth",
    "br-",
    "virbr",
    "vnet",
    "tun",
    "tap",
    "wg",
    "ifb",
    "dummy",
    "vxlan",
    "flannel",
    "cni",
    "cali",
    "kube",
    "zt",
    "tailscale",
    "sit",
    "ip6tnl",
    "gre",
)
TIMESYNCD_DROPIN = Path("/etc/systemd/timesyncd.conf.d/vantage.conf")


def physical_interfaces(stats: Mapping[str, Any]) -> list[str]:
    names = []
    for name, stat in stats.items():
        flags = str(getattr(stat, "flags", "") or "")
        if "loopback" in flags.split(",") or name.startswith(_VIRTUAL_PREFIXES):
            continue
        names.append(name)
    return sorted(names)


def port_interfaces(
    stats: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """{"Ethernet0": "eth0", "Ethernet1": "eth1" or None} for these interface stats."""
    env = os.environ if env is None else env
    found = physical_interfaces(stats)
    variables = dict(zip(PORTS, (ENV_ETHERNET0, ENV_ETHERNET1), strict=True))
    configured = {port: env.get(var, "").strip() for port, var in variables.items()}
    remaining = [name for name in found if name not in configured.values()]
    mapping: dict[str, str | None] = {}
    for port in PORTS:
        mapping[port] = configured[port] or (remaining.pop(0) if remaining else None)
    return mapping


def ethernet_status(
    name: str | None, stats: Mapping[str, Any], addrs: Mapping[str, Sequence[Any]]
) -> EthernetStatus:
    if name is None:
        return EthernetStatus()
    ipv4 = "--"
    mac = "--"
    for addr in addrs.get(name, []):
        if addr.family == socket.AF_INET and ipv4 == "--":
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{addr.netmask or '32'}").prefixlen
            ipv4 = f"{addr.address}/{prefix}"
        elif addr.family == psutil.AF_LINK:
            mac = addr.address
    stat = stats.get(name)
    up = bool(stat is not None and stat.isup)
    return EthernetStatus(
        IpAddress=ipv4,
        ConnectionStatus="CONNECTED" if up and ipv4 != "--" else "NOT_CONNECTED",
        HwAddress=mac,
        InterfaceName=name,
    )


def ntp_synchronized() -> bool | None:
    """``timedatectl show``'s NTPSynchronized, or None where timedatectl cannot tell."""
    try:
        result = subprocess.run(
            ["timedatectl", "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=3,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = result.stdout.strip()
    return value == "yes" if result.returncode == 0 and value in {"yes", "no"} else None


def network_status(
    stats: Mapping[str, Any],
    addrs: Mapping[str, Sequence[Any]],
    *,
    ntp_servers: Sequence[str] = (),
    ntp_synced: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> NetworkStatus:
    """CurrentNetworkingStatus from psutil's net_if_stats() and net_if_addrs()."""
    ports = port_interfaces(stats, env)
    return NetworkStatus(
        Ethernet0Status=ethernet_status(ports["Ethernet0"], stats, addrs),
        Ethernet1Status=ethernet_status(ports["Ethernet1"], stats, addrs),
        NtpStatus=NtpState(
            ConnectionStatus="CONNECTED" if ntp_synced else "NOT_CONNECTED",
            NtpServerName=ntp_servers[0] if ntp_servers else "",
        ),
    )


def current_network_status(ntp_servers: Sequence[str] = ()) -> NetworkStatus:
    """The real interfaces of this machine (blocking: runs timedatectl)."""
    return network_status(
        psutil.net_if_stats(),
        psutil.net_if_addrs(),
        ntp_servers=ntp_servers,
        ntp_synced=ntp_synchronized(),
    )


# --- appliers -------------------------------------------------------------------------------
class NetworkApplier(Protocol):
    def apply(self, payload: NetworkPayload, ports: Mapping[str, str | None]) -> list[str]:
        """Apply the settings; returns what was done, one line each, for the logs."""
        ...


def describe(payload: NetworkPayload, ports: Mapping[str, str | None]) -> list[str]:
    """One line per port and one for NTP, in the words of the setup wizard."""
    lines = []
    for port in PORTS:
        settings = getattr(payload, port)
        interface = ports.get(port)
        where = f"{port} ({interface})" if interface else f"{port} (no interface found)"
        info = settings.StaticIpConnectionInfo
        if settings.ConnectionType == "DHCP" or info is None:
            lines.append(f"{where}: DHCP")
        else:
            lines.append(
                f"{where}: static IP {info.IpAddress}, mask {info.Mask}, gateway "
                f"{info.DefaultGateway}, DNS {', '.join(info.Dns)}"
            )
    lines.append(f"NTP servers: {', '.join(payload.Ntp.NtpServers) or '(none)'}")
    return lines


class DryRunApplier:
    """Logs exactly what it would set and changes nothing (the default)."""

    def apply(self, payload: NetworkPayload, ports: Mapping[str, str | None]) -> list[str]:
        lines = describe(payload, ports)
        for line in lines:
            logger.info("Network settings (dry run, nothing changed): %s", line)
        return lines


class NetworkManagerApplier:
    """Applies the settings with nmcli, and NTP servers through a systemd-timesyncd drop-in."""

    def __init__(self, timesyncd_dropin: Path = TIMESYNCD_DROPIN) -> None:
        self.timesyncd_dropin = timesyncd_dropin

    def commands(self, payload: NetworkPayload, ports: Mapping[str, str | None]) -> list[list[str]]:
        """The nmcli commands, in order (the first delete of each port may fail: no such
        connection yet, which is fine)."""
        commands = []
        for port in PORTS:
            interface = ports.get(port)
            if not interface:
                continue
            settings = getattr(payload, port)
            name = f"vantage-{port}"
            add = [
                "nmcli",
                "connection",
                "add",
                "type",
                "ethernet",
                "ifname",
                interface,
                "con-name",
                name,
                "connection.autoconnect",
                "yes",
            ]
            info = settings.StaticIpConnectionInfo
            if settings.ConnectionType == "DHCP" or info is None:
                add += ["ipv4.method", "auto"]
            else:
                prefix = ipaddress.IPv4Network(f"0.0.0.0/{info.Mask}").prefixlen
                address = f"{info.IpAddress}/{prefix}"
                add += [
                    "ipv4.method",
                    "manual",
                    "ipv4.addresses",
                    address,
                    "ipv4.gateway",
                    info.DefaultGateway,
                    "ipv4.dns",
                    ",".join(info.Dns),
                ]
            commands += [
                ["nmcli", "connection", "delete", name],
                add,
                ["nmcli", "connection", "up", name],
            ]
        return commands

    def timesyncd_config(self, payload: NetworkPayload) -> str:
        return "[Time]\nNTP=" + " ".join(payload.Ntp.NtpServers) + "\n"

    def apply(self, payload: NetworkPayload, ports: Mapping[str, str | None]) -> list[str]:
        done = []
        for command in self.commands(payload, ports):
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
            line = " ".join(command)
            if result.returncode and command[2] != "delete":
                logger.error("%s failed: %s", line, (result.stderr or result.stdout).strip())
            else:
                logger.info("Network settings: ran %s", line)
            done.append(line)
        self.timesyncd_dropin.parent.mkdir(parents=True, exist_ok=True)
        self.timesyncd_dropin.write_text(self.timesyncd_config(payload))
        restart = ["systemctl", "restart", "systemd-timesyncd"]
        result = subprocess.run(restart, capture_output=True, text=True, timeout=60)
        if result.returncode:
            logger.error("%s failed: %s", " ".join(restart), result.stderr.strip())
        logger.info("Network settings: NTP servers %s", ", ".join(payload.Ntp.NtpServers))
        return [*done, f"wrote {self.timesyncd_dropin}", " ".join(restart)]


def make_applier(name: str) -> NetworkApplier:
    if name == "networkmanager":
        return NetworkManagerApplier()
    if name == "dry-run":
        return DryRunApplier()
    raise ValueError(f"unknown network applier {name!r}; use dry-run or networkmanager")
