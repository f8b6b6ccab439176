"""Ed25519 signing keys for passes: generate, store (private file mode 0600), load, identify."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gate.errors import KeyFileError
from gate.files import write_atomic, write_private

PRIVATE_NAME, PUBLIC_NAME = "signing.key", "signing.pub"


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """Key id: the first 8 bytes of SHA-256 of the raw public key, as 16 hex digits."""
    return hashlib.sha256(raw_public(public_key)).digest()[:8].hex()


@dataclass(frozen=True)
class SigningKey:
    """A private signing key and the id verifiers know its public half by."""

    private_key: Ed25519PrivateKey
    key_id: str

    @classmethod
    def from_private(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        return cls(private_key, key_id_of(private_key.public_key()))

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature over `data`."""
        return self.private_key.sign(data)


def generate_signing_key() -> SigningKey:
    """A fresh random signing key."""
    return SigningKey.from_private(Ed25519PrivateKey.generate())


def write_signing_key(key: SigningKey, path: Path | str, *, replace: bool = False) -> None:
    """Store a private key as PKCS8 PEM, mode 0600 from the first byte, atomically.

    Without `replace` an existing file is kept (FileExistsError); folders made are 0700.
    """
    write_private(path, key.private_key.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()),
                  replace=replace)


def write_key_pair(directory: Path | str, *, overwrite: bool = False) -> str:
    """Write `signing.key` (PKCS8 PEM, 0600 from creation) and `signing.pub`; return the kid.

    A folder it creates is 0700: it holds a secret.
    """
    directory = Path(directory)
    private_path, public_path = directory / PRIVATE_NAME, directory / PUBLIC_NAME
    if not overwrite and (private_path.exists() or public_path.exists()):
        raise KeyFileError(f"{private_path} already exists; pass overwrite (--force) to replace it")
    key = generate_signing_key()
    write_signing_key(key, private_path, replace=overwrite)
    write_atomic(public_path, key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        mode=0o644)  # always: it must match the key just written
    return key.key_id


def _read(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from None


def load_signing_key(path: Path | str) -> SigningKey:
    """Load a private signing key written by `write_key_pair`."""
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return SigningKey.from_private(key)


def load_or_create_signing_key(path: Path | str) -> tuple[SigningKey, bool]:
    """The private key stored at `path`, created there first (0600, folders 0700) when there
    is none; True when it was just created. Two processes creating it at once end up with the
    same key: the second finds the first's file and loads it."""
    path = Path(path)
    if not path.exists():
        try:
            write_signing_key(generate_signing_key(), path)
            return load_signing_key(path), True
        except FileExistsError:
            pass
    return load_signing_key(path), False


def load_public_key(path: Path | str) -> Ed25519PublicKey:
    """Load a PEM public key (`signing.pub`)."""
    return public_key_from_pem(_read(path), str(path))


def public_key_from_pem(data: bytes, source: str = "<pem>") -> Ed25519PublicKey:
    """Parse a PEM public key, insisting on Ed25519."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{source} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{source} holds a {type(key).__name__}, not an Ed25519 key")
    return key
