"""HTTPS for `./vantage up` on a network address: a local certificate authority of its own.

When the console listens beyond this machine and nobody configured a ``CONSOLE_URL`` (a reverse
proxy with its own certificate, say), the launcher serves HTTPS itself: it makes a private CA
once (``var/tls/ca.pem``, its key ``ca.key`` mode 0600) and a server certificate for this
machine's names and addresses, renewed when they change or before it expires. The CA's
certificate goes into every configuration archive (``CONSOLE_CA_FILE``), so appliances trust
this console and nothing else that would answer at its address; the console's own processes
trust it through ``trust.pem`` (the system's CAs plus this one, as ``SSL_CERT_FILE``).

No Django here: the launcher runs this before any settings are loaded.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import psutil
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
# Browsers refuse server certificates valid for more than 825 days (398 for public CAs).
SERVER_DAYS = 398
RENEW_BEFORE = dt.timedelta(days=30)
KEY_MODE = 0o600


@dataclass(frozen=True)
class LocalTls:
    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def key(self) -> Path:
        return self.folder / "server.key"

    @property
    def trust(self) -> Path:
        return self.folder / "trust.pem"


def wants_tls(host: str) -> bool:
    """Whether listening on ``host`` reaches beyond this machine."""
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104
        return True
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def primary_address() -> str:
    """The address other machines most likely reach this one at (the default route's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # A UDP "connect" sends nothing; it only picks the route and the source address.
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


def machine_names(host: str) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses the server certificate must cover."""
    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    addresses = {"127.0.0.1", "::1"}
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                addresses.add(entry.address.split("%")[0])
    if host not in {"0.0.0.0", "::", ""}:  # noqa: S104  (a wildcard names no address)
        try:
            addresses.add(str(ipaddress.ip_address(host)))
        except ValueError:
            names.add(host)
    return sorted(name for name in names if name), sorted(addresses)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# A CA that signs certificates (and revocation lists) and nothing else.
_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _ca(tls: LocalTls, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if tls.ca_cert.exists() and tls.ca_key.exists():
        cert = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(tls.ca_key.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > now:
            return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vantage"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Vantage local CA ({socket.gethostname()})"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(tls.ca_key, _key_pem(key), KEY_MODE)
    _write(tls.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _covers(cert: x509.Certificate, names: list[str], addresses: list[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_addresses = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return set(names) <= have_names and {str(ipaddress.ip_address(a)) for a in addresses} <= (
        have_addresses
    )


def ensure_local_tls(folder: Path, host: str, *, now: dt.datetime | None = None) -> LocalTls:
    """The CA and a current server certificate for this machine under ``folder``."""
    now = now or dt.datetime.now(dt.UTC)
    tls = LocalTls(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca(tls, now)
    names, addresses = machine_names(host)
    if tls.cert.exists() and tls.key.exists():
        current = x509.load_pem_x509_certificate(tls.cert.read_bytes())
        if (
            current.issuer == ca_cert.subject
            and current.not_valid_after_utc - RENEW_BEFORE > now
            and _covers(current, names, addresses)
        ):
            _write_trust(tls)
            return tls
    key = ec.generate_private_key(ec.SECP256R1())
    alternatives: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(tls.key, _key_pem(key), KEY_MODE)
    _write(tls.cert, cert.public_bytes(serialization.Encoding.PEM))
    _write_trust(tls)
    return tls


def _write_trust(tls: LocalTls) -> None:
    """The system's CAs plus the local one: what the console's own processes verify with."""
    # The bundle OpenSSL was built to use, not SSL_CERT_FILE: that may be this very file.
    system = ssl.get_default_verify_paths().openssl_cafile
    bundle = Path(system).read_bytes() if system and Path(system).is_file() else b""
    _write(tls.trust, bundle + b"\n" + tls.ca_cert.read_bytes())
