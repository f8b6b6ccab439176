"""A self-signed TLS certificate for the panel, made at install time (`gridgate panel cert`)."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.panel.errors import PanelError
from gate.files import write_atomic, write_private


def default_hosts() -> list[str]:
    """Names the gate answers to: its host name, localhost and the loopback addresses."""
    names = [socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    return list(dict.fromkeys(n for n in names if n))


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def create_self_signed(cert_path: Path, key_path: Path, *, hosts: list[str] | None = None,
                       days: int = 3650, now: datetime | None = None) -> x509.Certificate:
    """Write an EC P-256 key (mode 0600) and a certificate for `hosts`; returns the certificate."""
    hosts = hosts or default_hosts()
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gridgate panel")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_alt_name(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    try:
        # 0600 from the first byte, even over an older key file that was readable by others.
        write_private(key_path, key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except OSError as exc:
        raise PanelError(f"cannot write the panel certificate: {exc}") from exc
    return cert


def check_pair(cert_path: Path, key_path: Path) -> None:
    """PanelError unless the certificate and key load together."""
    for path in (cert_path, key_path):
        if not path.is_file():
            raise PanelError(f"{path} does not exist; create it with `gridgate panel cert "
                             "--config FILE` or set panel.tls = false")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, OSError) as exc:
        raise PanelError(f"cannot use {cert_path} with {key_path}: {exc}") from exc


def fingerprint(cert_path: Path) -> str:
    """SHA-256 fingerprint, for guards to compare with what their browser shows."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
