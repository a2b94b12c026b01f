"""Ed25519 signatures in minisign's format, so anyone can verify a pack with Debian's
``minisign`` and no code of ours (format: jedisct1/minisign, "Signature format").

- public key: ``base64("Ed" || key_id[8] || public_key[32])`` under an untrusted comment line;
- signature: ``base64("ED" || key_id[8] || Ed25519(BLAKE2b-512(file)))``, then a trusted
  comment and ``base64(Ed25519(signature || trusted_comment))``, so the comment cannot be
  changed either. "ED" is minisign's pre-hashed mode (the default since 0.11).

The secret key stays in this project's own file (it never needs to be read by minisign).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from probe.errors import ProbeError

PK_ALG: Final = b"Ed"
SIG_ALG_HASHED: Final = b"ED"


class SignatureError(ProbeError):
    """A signature or key that does not parse or does not verify."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    key_id: bytes  # 8 bytes, as minisign stores them (little-endian u64)
    raw: bytes  # 32 bytes

    @property
    def key_id_hex(self) -> str:
        """The key id as minisign prints it (the u64 in upper-case hex)."""
        return self.key_id[::-1].hex().upper()

    def base64(self) -> str:
        return base64.b64encode(PK_ALG + self.key_id + self.raw).decode("ascii")

    def file_text(self) -> str:
        return f"untrusted comment: minisign public key {self.key_id_hex}\n{self.base64()}\n"

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """From a .pub file's text or the bare base64 line (``minisign -P`` form)."""
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        line = next((ln for ln in lines if not ln.startswith("untrusted comment:")), "")
        try:
            blob = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("the public key is not base64") from None
        if len(blob) != 42 or blob[:2] != PK_ALG:
            raise SignatureError("not a minisign Ed25519 public key")
        return cls(blob[2:10], blob[10:])


def public_key_of(secret: Ed25519PrivateKey, key_id: bytes) -> PublicKey:
    raw = secret.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PublicKey(key_id, raw)


def sign(message: bytes, secret: Ed25519PrivateKey, key_id: bytes, *, trusted_comment: str,
         untrusted_comment: str = "signature from probe evidence key") -> str:
    """The ``.minisig`` file text for ``message``."""
    if "\n" in trusted_comment or "\n" in untrusted_comment:
        raise ValueError("comments are one line")
    signature = secret.sign(hashlib.blake2b(message, digest_size=64).digest())
    global_signature = secret.sign(signature + trusted_comment.encode("utf-8"))
    return (f"untrusted comment: {untrusted_comment}\n"
            f"{base64.b64encode(SIG_ALG_HASHED + key_id + signature).decode('ascii')}\n"
            f"trusted comment: {trusted_comment}\n"
            f"{base64.b64encode(global_signature).decode('ascii')}\n")


@dataclass(frozen=True, slots=True)
class Verified:
    key_id_hex: str
    trusted_comment: str


def signature_key_id(signature_text: str) -> str:
    """The key id a .minisig names (upper-case hex), without verifying anything."""
    return _parse(signature_text)[1][::-1].hex().upper()


def verify(message: bytes, signature_text: str, key: PublicKey) -> Verified:
    """Check a ``.minisig`` against ``key``; raises SignatureError saying what failed."""
    algorithm, key_id, signature, comment, global_signature = _parse(signature_text)
    if key_id != key.key_id:
        raise SignatureError(f"signed by key {key_id[::-1].hex().upper()}, not by the trusted "
                             f"key {key.key_id_hex}")
    public = Ed25519PublicKey.from_public_bytes(key.raw)
    signed = hashlib.blake2b(message, digest_size=64).digest() if algorithm == SIG_ALG_HASHED \
        else message
    try:
        public.verify(signature, signed)
    except InvalidSignature:
        raise SignatureError("the signature does not match the signed file: it was changed "
                             "after signing") from None
    try:
        public.verify(global_signature, signature + comment.encode("utf-8"))
    except InvalidSignature:
        raise SignatureError("the signature's trusted comment was changed") from None
    return Verified(key.key_id_hex, comment)


def _parse(text: str) -> tuple[bytes, bytes, bytes, str, bytes]:
    lines = text.splitlines()
    if len(lines) < 4 or not lines[0].startswith("untrusted comment:") \
            or not lines[2].startswith("trusted comment: "):
        raise SignatureError("not a minisign signature file")
    try:
        blob = base64.b64decode(lines[1].strip(), validate=True)
        global_signature = base64.b64decode(lines[3].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature file is not base64") from None
    if len(blob) != 74 or blob[:2] not in (SIG_ALG_HASHED, PK_ALG) or len(global_signature) != 64:
        raise SignatureError("not a minisign Ed25519 signature")
    return blob[:2], blob[2:10], blob[10:], lines[2][len("trusted comment: "):], global_signature
