"""The center's own certificates: a CA and a server certificate signed by it
(``motcua tls init``), and the server's TLS context.

A center's network has no public name, so no public CA can vouch for its
server; the center makes its own CA once (kept offline after use, ideally)
and a server certificate for the addresses devices use. Devices pin the
server certificate's fingerprint (given at enrolment) or trust the CA file.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from motcua.tls import fingerprint_der

CA_DAYS = 3650
SERVER_DAYS = 825  # what browsers accept for a server certificate


def _name(common: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return names


def init_center_tls(folder: str | Path, hosts: list[str], center: str = "motcua",
                    now: _dt.datetime | None = None) -> dict[str, str]:
    """Make ``ca.crt``/``ca.key`` (unless there) and a new ``server.crt``/
    ``server.key`` for ``hosts`` in ``folder``. Returns the paths and the
    server certificate's fingerprint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    ca_crt, ca_key = folder / "ca.crt", folder / "ca.key"
    if ca_crt.exists() and ca_key.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_crt.read_bytes())
        key = serialization.load_pem_private_key(ca_key.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        ca_private = key
    else:
        ca_private = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"{center} CA", center)
        ca_cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(ca_private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - _dt.timedelta(minutes=5))
                   .not_valid_after(now + _dt.timedelta(days=CA_DAYS))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                False, False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                       ca_private.public_key()), critical=False)
                   .sign(ca_private, hashes.SHA256()))
        _write_key(ca_key, ca_private)
        ca_crt.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(hosts[0], center))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_private.public_key()), critical=False)
            .sign(ca_private, hashes.SHA256()))
    server_crt, server_key = folder / "server.crt", folder / "server.key"
    _write_key(server_key, key)
    # The chain: a client trusting only the CA file can verify it.
    server_crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                           + ca_cert.public_bytes(serialization.Encoding.PEM))
    return {"ca": str(ca_crt), "ca_key": str(ca_key), "cert": str(server_crt),
            "key": str(server_key),
            "fingerprint": fingerprint_der(cert.public_bytes(serialization.Encoding.DER))}


def cert_fingerprint(cert_file: str | Path) -> str:
    """The fingerprint of the first certificate in a PEM file (the server's)."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    return fingerprint_der(cert.public_bytes(serialization.Encoding.DER))


def server_context(cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    """The server's TLS context (TLS 1.2 and newer)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx
