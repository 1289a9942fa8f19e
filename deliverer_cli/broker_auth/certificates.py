"""The TLS certificate of the broker's device listener: mounted ones are used as they are; without
them, a self-signed CA and a server certificate it signed are made once and kept.

``ca.crt`` is what a device trusts; ``ca.key`` stays beside it (readable by root only) so that the
server certificate can be issued again, for new names or before it expires, under the same CA,
and devices keep working. 825 days is the longest validity Apple's devices accept for a TLS server
certificate, whoever signed it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deliverer.usage import UsageError

CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.crt", "ca.key", "server.crt", "server.key"
CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=825)
RENEW_BEFORE = timedelta(days=30)


class CertificateOutcome(Enum):
    MOUNTED = "certificates mounted from outside: used as they are"
    KEPT = "the generated certificate is current: kept"
    CREATED = "created a self-signed CA and a server certificate"
    REISSUED = "issued the server certificate again under the same CA"


def subject_names(names: Sequence[str]) -> list[x509.GeneralName]:
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return general


def write_file(path: Path, data: bytes, mode: int, owner: str | None = None) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(temporary, mode)
    if owner:
        user, _, group = owner.partition(":")
        shutil.chown(temporary, user, group or None)
    os.replace(temporary, path)


def private_key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deliverer broker CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_server_certificate(
    names: Sequence[str], ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(subject_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def is_current(cert: x509.Certificate, names: Sequence[str], now: datetime) -> bool:
    """Valid for a while yet, for exactly these names."""
    try:
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return cert.not_valid_after_utc - now > RENEW_BEFORE and set(alternative) == set(subject_names(names))


def ensure_certificates(
    cert_dir: Path, names: Sequence[str], owner: str | None = None, now: datetime | None = None
) -> CertificateOutcome:
    """Make sure ``cert_dir`` holds a server certificate for ``names`` (the first is its common name)."""
    if not names:
        raise UsageError("the server certificate needs at least one host name or address")
    now = now or datetime.now(UTC)
    cert_dir.mkdir(parents=True, exist_ok=True)
    server_cert, server_key = cert_dir / SERVER_CERT, cert_dir / SERVER_KEY
    ca_cert_path, ca_key_path = cert_dir / CA_CERT, cert_dir / CA_KEY
    if server_cert.exists() and server_key.exists() and not ca_key_path.exists():
        return CertificateOutcome.MOUNTED
    if ca_key_path.exists() and ca_cert_path.exists():
        ca = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        loaded_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded_key, ec.EllipticCurvePrivateKey):
            raise UsageError(f"{ca_key_path} is not the EC key this command makes")
        ca_key = loaded_key
        if server_cert.exists() and server_key.exists() and is_current(
            x509.load_pem_x509_certificate(server_cert.read_bytes()), names, now
        ):
            return CertificateOutcome.KEPT
        outcome = CertificateOutcome.REISSUED
    else:
        ca, ca_key = make_ca(now)
        write_file(ca_key_path, private_key_bytes(ca_key), 0o600)
        write_file(ca_cert_path, ca.public_bytes(serialization.Encoding.PEM), 0o644)
        outcome = CertificateOutcome.CREATED
    cert, key = make_server_certificate(names, ca, ca_key, now)
    write_file(server_key, private_key_bytes(key), 0o600, owner)
    write_file(server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644, owner)
    return outcome
