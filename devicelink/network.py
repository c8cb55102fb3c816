"""Network settings of an appliance, in Panorama's NetworkPayload shape (spec 7.2).

The console's setup wizard validates them with these checks, the archive carries them, and the
agent hands them to its network applier; errors name the field in the wizard's words.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devicelink.status import ConnectionType as ConnectionKind  # a field is named ConnectionType
from devicelink.status import NetworkConnectionStatus

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
DEFAULT_NTP_SERVERS = ["pool.ntp.org"]


def check_ipv4(value: str, what: str) -> str:
    """``value`` as a plain IPv4 address, or ValueError saying what is wrong with it."""
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        raise ValueError(f"{what} must be an IPv4 address such as 192.168.0.10.") from None


def check_mask(value: str) -> str:
    """A subnet mask as dotted quad (255.255.255.0) or prefix length (/24 or 24)."""
    text = value.strip().lstrip("/")
    try:
        network = ipaddress.IPv4Network(f"0.0.0.0/{text}")
    except ValueError:
        raise ValueError(
            "The mask must be a subnet mask such as 255.255.255.0 or a prefix length such as 24."
        ) from None
    return str(network.netmask)


def check_ntp_server(value: str) -> str:
    """A host name or an IPv4 address, optionally with :port (as Panorama accepts)."""
    text = value.strip()
    host, sep, port = text.rpartition(":") if ":" in text else (text, "", "")
    if sep and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"NTP server {text!r}: the port must be a number from 1 to 65535.")
    try:
        ipaddress.IPv4Address(host)
        return text
    except ValueError:
        pass
    if not _HOSTNAME.match(host):
        raise ValueError(
            f"NTP server {text!r} is neither a host name (such as pool.ntp.org) nor an "
            "IPv4 address."
        )
    return text


class StaticIpInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    IpAddress: str
    Mask: str
    DefaultGateway: str
    Dns: list[str] = Field(min_length=1, max_length=3)

    @field_validator("IpAddress")
    @classmethod
    def _ip(cls, value: str) -> str:
        return check_ipv4(value, "The IP address")

    @field_validator("Mask")
    @classmethod
    def _mask(cls, value: str) -> str:
        return check_mask(value)

    @field_validator("DefaultGateway")
    @classmethod
    def _gateway(cls, value: str) -> str:
        return check_ipv4(value, "The default gateway")

    @field_validator("Dns")
    @classmethod
    def _dns(cls, values: list[str]) -> list[str]:
        return [check_ipv4(value, "Each DNS server") for value in values]

    @model_validator(mode="after")
    def _gateway_in_subnet(self) -> StaticIpInfo:
        network = ipaddress.IPv4Network(f"{self.IpAddress}/{self.Mask}", strict=False)
        if ipaddress.IPv4Address(self.DefaultGateway) not in network:
            raise ValueError(
                f"The default gateway {self.DefaultGateway} is outside the subnet {network}."
            )
        if self.IpAddress in {str(network.network_address), str(network.broadcast_address)}:
            raise ValueError(
                f"The IP address {self.IpAddress} is the network or broadcast address of {network}."
            )
        return self


class EthernetPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ConnectionType: ConnectionKind = ConnectionKind.DHCP
    StaticIpConnectionInfo: StaticIpInfo | None = None

    @model_validator(mode="after")
    def _static_needs_info(self) -> EthernetPayload:
        if self.ConnectionType == "STATIC_IP" and self.StaticIpConnectionInfo is None:
            raise ValueError("A static IP connection needs its address, mask, gateway and DNS.")
        if self.ConnectionType == "DHCP":
            self.StaticIpConnectionInfo = None
        return self


class NtpPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    NtpServers: list[str] = Field(default_factory=lambda: list(DEFAULT_NTP_SERVERS), max_length=5)

    @field_validator("NtpServers")
    @classmethod
    def _servers(cls, values: list[str]) -> list[str]:
        return [check_ntp_server(value) for value in values]


class NetworkPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Ethernet0: EthernetPayload = Field(default_factory=EthernetPayload)
    Ethernet1: EthernetPayload = Field(default_factory=EthernetPayload)
    Ntp: NtpPayload = Field(default_factory=NtpPayload)


class EthernetStatus(BaseModel):
    IpAddress: str = "--"
    ConnectionStatus: NetworkConnectionStatus = NetworkConnectionStatus.NOT_CONNECTED
    HwAddress: str = "--"
    InterfaceName: str = ""


class NtpState(BaseModel):
    ConnectionStatus: NetworkConnectionStatus = NetworkConnectionStatus.NOT_CONNECTED
    IpAddress: str = "--"
    NtpServerName: str = ""


class NetworkStatus(BaseModel):
    """CurrentNetworkingStatus as the appliance reports it."""

    Ethernet0Status: EthernetStatus = Field(default_factory=EthernetStatus)
    Ethernet1Status: EthernetStatus = Field(default_factory=EthernetStatus)
    NtpStatus: NtpState = Field(default_factory=NtpState)
