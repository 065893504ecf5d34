"""A class's own certificate authority and the certificates of its lab cluster (`python -m mnist_core cluster-keys`):
one for the scheduler, one shared by the workers, one for the app, each signed by the class's authority, so that
Dask's mutual TLS lets in only the computers a teacher gave them to.

The authority's private key is never written: nobody, the teacher included, can sign another certificate later, and
a new set of keys (`--force`) is a new authority that every computer needs again. This module imports only
`cryptography`, so the CLI answers quickly; cluster.py turns the files into a `distributed.security.Security`.
"""

from __future__ import annotations

import datetime
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mnist_core.i18n import _

CA = "ca.pem"  # the class's authority: every computer of the cluster needs it
ROLES = ("scheduler", "worker", "app")  # Dask's roles are scheduler, worker and client: the app is the client
VALID_DAYS = 5 * 365  # a few school years: a class that outlives them makes new keys
CLOCK_SKEW = datetime.timedelta(days=1)  # valid from a day ago, so a lab computer whose clock is behind still accepts


class KeysError(RuntimeError):
    """Keys cannot be made or read; the message says why in one line."""


@dataclass(frozen=True)
class KeyFiles:
    """One role's files in a cluster-keys folder: the authority, the role's certificate and its private key."""

    ca: Path
    cert: Path
    key: Path


def files(folder: str | Path, role: str) -> KeyFiles:
    folder = Path(folder)
    return KeyFiles(folder / CA, folder / f"{role}.pem", folder / f"{role}-key.pem")


def all_files(folder: str | Path) -> list[Path]:
    paths = [Path(folder) / CA]
    for role in ROLES:
        paths += [files(folder, role).cert, files(folder, role).key]
    return paths


def make_keys(folder: str | Path, force: bool = False) -> list[Path]:
    """Write a new authority's certificate and the three roles' certificates and keys into `folder` (made if
    missing); private keys are readable by their owner only. Returns the paths written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise KeysError(_("{folder} is a file, not a folder for the cluster's keys").format(folder=folder))
    existing = [p.name for p in all_files(folder) if p.exists()]
    if existing and not force:
        raise KeysError(
            _(
                "{folder} already holds cluster keys ({names}); the computers using them would be locked out: "
                "choose another folder, or add --force to replace them"
            ).format(folder=folder, names=", ".join(existing))
        )
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "the folder is not writable")
    except OSError as e:
        raise KeysError(
            _("cannot write the cluster's keys in {folder}: {error}").format(folder=folder, error=e.strerror or e)
        ) from None

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - CLOCK_SKEW, now + datetime.timedelta(days=VALID_DAYS)
    # One authority per run of cluster-keys, told apart by its serial number in its name.
    serial = x509.random_serial_number()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Digit Lab class authority {serial:x}"[:64])])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(x509, signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    written = [_write(folder / CA, ca_cert.public_bytes(pem), private=False)]
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"digit-lab-{role}")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(x509, signs_certificates=False), critical=True)
            # Every role both listens and connects in Dask (workers talk to each other and the scheduler to them).
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        paths = files(folder, role)
        written.append(_write(paths.cert, cert.public_bytes(pem), private=False))
        key_bytes = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        written.append(_write(paths.key, key_bytes, private=True))
    return written


def _key_usage(x509, signs_certificates: bool):
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, private: bool) -> Path:
    """A new file (an old one is removed first, so a key never keeps an old file's wider mode)."""
    mode = 0o600 if private else 0o644
    try:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            if os.name == "posix":
                os.fchmod(f.fileno(), mode)  # exactly this mode, whatever the umask
            f.write(data)
    except OSError as e:
        raise KeysError(
            _("cannot write the cluster's keys in {folder}: {error}").format(folder=path.parent, error=e.strerror or e)
        ) from None
    return path


def check_readable(folder: str | Path, role: str, setting: str) -> KeyFiles:
    """The role's files in `folder`, or a KeysError naming the first one missing or readable by others."""
    paths = files(folder, role)
    for path in (paths.ca, paths.cert, paths.key):
        if not path.is_file():
            raise KeysError(
                _(
                    "{setting} names {folder}, which has no {name}: make the keys with "
                    "`python -m mnist_core cluster-keys {folder}` and use that folder"
                ).format(setting=setting, folder=folder, name=path.name)
            )
    if os.name == "posix" and paths.key.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeysError(
            _(
                "{path} can be read by other users of this computer, who could then run code on the cluster: chmod 600 {path}"
            ).format(path=paths.key)
        )
    return paths


def next_steps(folder: str | Path) -> str:
    """What to do with the files just written, as the CLI prints it."""
    folder = Path(folder).resolve()
    return _(
        "Wrote the class's authority and certificates in {folder} (private keys readable by you only).\n"
        "Keep the folder on the teacher's computer; copy only ca.pem, worker.pem and worker-key.pem into a folder of "
        "the same name on each lab computer (worker-key.pem readable only by the account that runs the worker). Then:\n"
        "  teacher's computer:  dask scheduler --host 0.0.0.0 --port 8786 --dashboard-address 127.0.0.1:8787 "
        "--tls-ca-file {folder}/ca.pem --tls-cert {folder}/scheduler.pem --tls-key {folder}/scheduler-key.pem\n"
        "  each lab computer:   PYTHONPATH=. dask worker tls://<teacher's computer>:8786 --nthreads 1 --no-dashboard "
        "--tls-ca-file {folder}/ca.pem --tls-cert {folder}/worker.pem --tls-key {folder}/worker-key.pem\n"
        "  the app:             DIGIT_LAB_CLUSTER=tls://<teacher's computer>:8786 DIGIT_LAB_CLUSTER_KEYS={folder} "
        "./scripts/run_app.sh --server.address 0.0.0.0"
    ).format(folder=folder)
