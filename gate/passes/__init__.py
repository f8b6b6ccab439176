"""Signed passes: CWT claims in COSE_Sign1 (Ed25519), compressed, base45, verified offline."""

from gate.passes.claims import PassCheck, PassClaims, PassReason
from gate.passes.codec import PREFIX, PassFormatError, encode_pass
from gate.passes.keys import (
    SigningKey,
    generate_signing_key,
    key_id_of,
    load_or_create_signing_key,
    load_public_key,
    load_signing_key,
    write_key_pair,
    write_signing_key,
)
from gate.passes.qr import qr_matrix, qr_version, write_qr_png
from gate.passes.trust import Revocations, TrustedKey, TrustList
from gate.passes.verify import decode_unverified, verify_pass

__all__ = [
    "PREFIX", "PassCheck", "PassClaims", "PassFormatError", "PassReason", "Revocations",
    "SigningKey", "TrustList", "TrustedKey", "decode_unverified", "encode_pass",
    "generate_signing_key", "key_id_of", "load_or_create_signing_key", "load_public_key",
    "load_signing_key", "qr_matrix", "qr_version", "verify_pass", "write_key_pair",
    "write_qr_png", "write_signing_key",
]
