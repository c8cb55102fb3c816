"""console/tls.py: the local CA and server certificate `./vantage up` serves HTTPS with."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading

import pytest
from cryptography import x509

from console.tls import ensure_local_tls, primary_address, wants_tls

ANY = "0.0.0.0"  # noqa: S104  (what `./vantage up --host 0.0.0.0` listens on)


def handshake(tls, server_name: str, address: str = "127.0.0.1") -> str:
    """A real TLS handshake against a server with ``tls``'s certificate, verified with its CA
    for ``server_name``; returns the negotiated version."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tls.cert, tls.key)
    listener = socket.create_server((address, 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            with server_context.wrap_socket(connection, server_side=True) as wrapped:
                wrapped.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(tls.ca_cert))
    try:
        with (
            socket.create_connection((address, port), timeout=10) as raw,
            client_context.wrap_socket(raw, server_hostname=server_name) as wrapped,
        ):
            version = wrapped.version() or ""
            wrapped.sendall(b"x")
    finally:
        thread.join(10)
        listener.close()
    return version


def test_only_a_network_address_asks_for_tls():
    assert wants_tls(ANY) and wants_tls("::") and wants_tls("192.168.1.20")
    assert not wants_tls("127.0.0.1") and not wants_tls("::1") and not wants_tls("localhost")


def test_the_certificate_is_trusted_through_the_local_ca_for_this_machines_names(tmp_path):
    tls = ensure_local_tls(tmp_path / "tls", ANY)
    assert handshake(tls, "127.0.0.1").startswith("TLSv1.")
    assert handshake(tls, "localhost")
    assert handshake(tls, primary_address(), address=primary_address())
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(tls, "vantage.example.com")
    for secret in (tls.key, tls.ca_key):
        assert secret.stat().st_mode & 0o777 == 0o600
    assert tls.ca_cert.read_bytes() in tls.trust.read_bytes()


def test_the_ca_stays_and_the_certificate_is_renewed_when_it_must(tmp_path):
    folder = tmp_path / "tls"
    tls = ensure_local_tls(folder, ANY)
    ca, first = tls.ca_cert.read_bytes(), tls.cert.read_bytes()
    assert ensure_local_tls(folder, ANY).cert.read_bytes() == first  # nothing changed

    # A new address to listen on: a new certificate from the same CA.
    ensure_local_tls(folder, "10.99.0.1")
    assert tls.ca_cert.read_bytes() == ca and tls.cert.read_bytes() != first
    cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.99.0.1" in {str(a) for a in san.get_values_for_type(x509.IPAddress)}

    # Near its end, renewed: appliances keep trusting it because the CA stays.
    second = tls.cert.read_bytes()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=380)
    ensure_local_tls(folder, "10.99.0.1", now=later)
    assert tls.ca_cert.read_bytes() == ca and tls.cert.read_bytes() != second
