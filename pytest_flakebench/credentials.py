"""Sealing stored credentials with AES-256-GCM (``cryptography``); no database here.

A sealed secret is ``base64(nonce || ciphertext || tag)`` with a fresh 96-bit random nonce per
record and the connection's name bound as associated data, so a record copied or renamed in
the table no longer decrypts. The key comes from ``FLAKEBENCH_CREDENTIAL_KEY`` (exactly 32 bytes,
as 64 hex characters or base64); there is no built-in default key. Error messages name the
connection and the key ids, never the secret or the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass

from pytest_flakebench.errors import ConfigError

KEY_ENV = "FLAKEBENCH_CREDENTIAL_KEY"
NEW_KEY_ENV = "FLAKEBENCH_NEW_CREDENTIAL_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAKE_KEY_HINT = 'python -c "import secrets; print(secrets.token_hex(32))"'


class CredentialError(ConfigError):
    """A credential key is missing or malformed, or a sealed secret does not open."""


@dataclass(frozen=True, slots=True)
class CredentialKey:
    """A 32-byte AES-256-GCM key and its short public fingerprint (``key_id``)."""

    raw: bytes
    key_id: str

    def __repr__(self) -> str:
        return f"CredentialKey(key_id={self.key_id!r})"

    __str__ = __repr__


def key_id_of(raw: bytes) -> str:
    """The first 8 hex digits of ``sha256(key)``: shows which key sealed a record."""
    return hashlib.sha256(raw).hexdigest()[:8]


def parse_key(text: str, *, env: str = KEY_ENV) -> CredentialKey:
    """A key from 64 hex characters or base64 of exactly 32 bytes."""
    value = text.strip()
    raw: bytes | None = None
    if len(value) == 2 * KEY_BYTES:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != KEY_BYTES:
        raise CredentialError(
            f"${env} must be exactly {KEY_BYTES} bytes, given as 64 hex characters or base64; "
            f"make one with: {MAKE_KEY_HINT}"
        )
    return CredentialKey(raw=raw, key_id=key_id_of(raw))


def key_from_env(env: str = KEY_ENV, *, purpose: str = "store credentials") -> CredentialKey:
    """The key in ``$env``; a clear error (with how to make one) when it is not set."""
    value = os.environ.get(env)
    if not value:
        raise CredentialError(
            f"${env} is not set: it is needed to {purpose} (there is no built-in default key); "
            f"make one with: {MAKE_KEY_HINT} and export {env}=<that value>"
        )
    return parse_key(value, env=env)


def seal(key: CredentialKey, name: str, secret: str) -> str:
    """Encrypt ``secret`` for connection ``name``: ``base64(nonce || ciphertext || tag)``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key.raw).encrypt(nonce, secret.encode("utf-8"), name.encode("utf-8"))
    return base64.b64encode(nonce + sealed).decode("ascii")


def open_sealed(key: CredentialKey, name: str, sealed: str, *, record_key_id: str) -> str:
    """Decrypt the secret of connection ``name``; ``CredentialError`` naming it otherwise.

    The messages tell apart a wrong key (the key ids differ), a damaged record and a record
    that does not belong to ``name`` (renamed or copied), and never include the secret.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        blob = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        blob = b""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise CredentialError(
            f"credentials of connection {name!r} are damaged (not a sealed AES-256-GCM record); "
            f"store them again with `flakebench connections add {name} --replace`"
        )
    try:
        plain = AESGCM(key.raw).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                        name.encode("utf-8"))
    except InvalidTag:
        if record_key_id != key.key_id:
            raise CredentialError(
                f"credentials of connection {name!r} cannot be decrypted with this {KEY_ENV} "
                f"(key id {key.key_id}, record key id {record_key_id}): export the key they "
                f"were stored with"
            ) from None
        raise CredentialError(
            f"credentials of connection {name!r} failed authentication under the right key "
            f"(key id {key.key_id}): the record was tampered with or renamed in the table; "
            f"store them again with `flakebench connections add {name} --replace`"
        ) from None
    return plain.decode("utf-8")


__all__ = ["KEY_ENV", "MAKE_KEY_HINT", "NEW_KEY_ENV", "CredentialError", "CredentialKey",
           "key_from_env", "key_id_of", "open_sealed", "parse_key", "seal"]
