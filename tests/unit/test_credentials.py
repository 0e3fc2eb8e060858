"""AES-256-GCM sealing of stored credentials: keys, nonces, associated data, clear errors."""

from __future__ import annotations

import base64
import secrets

import pytest

from pytest_flakebench.credentials import (
    KEY_ENV,
    CredentialError,
    key_from_env,
    key_id_of,
    open_sealed,
    parse_key,
    seal,
)

SECRET = "s3cret-pw-unit"


def _key() -> str:
    return secrets.token_hex(32)


def test_hex_and_base64_keys_are_the_same_key() -> None:
    raw = secrets.token_bytes(32)
    by_hex, by_b64 = parse_key(raw.hex()), parse_key(base64.b64encode(raw).decode())
    assert by_hex.raw == by_b64.raw == raw
    assert by_hex.key_id == key_id_of(raw)
    assert len(by_hex.key_id) == 8


@pytest.mark.parametrize("text", ["", "abc", "00" * 31, "00" * 33, "zz" * 32,
                                  base64.b64encode(b"x" * 16).decode()])
def test_keys_of_the_wrong_size_are_refused_with_how_to_make_one(text: str) -> None:
    with pytest.raises(CredentialError, match=r"exactly 32 bytes.*secrets.token_hex\(32\)"):
        parse_key(text)


def test_no_key_is_refused_with_how_to_make_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(CredentialError) as info:
        key_from_env()
    assert "no built-in default key" in str(info.value)
    assert 'python -c "import secrets; print(secrets.token_hex(32))"' in str(info.value)


def test_round_trip_and_a_fresh_nonce_per_record() -> None:
    key = parse_key(_key())
    first, second = seal(key, "orders_pg", SECRET), seal(key, "orders_pg", SECRET)
    assert first != second  # a fresh random nonce each time
    assert base64.b64decode(first)[:12] != base64.b64decode(second)[:12]
    assert len(base64.b64decode(first)) == 12 + len(SECRET) + 16
    assert SECRET not in first
    assert SECRET.encode() not in base64.b64decode(first)
    for sealed in (first, second):
        assert open_sealed(key, "orders_pg", sealed, record_key_id=key.key_id) == SECRET


def test_wrong_key_names_the_connection_and_both_key_ids() -> None:
    key, other = parse_key(_key()), parse_key(_key())
    sealed = seal(key, "orders_pg", SECRET)
    with pytest.raises(CredentialError) as info:
        open_sealed(other, "orders_pg", sealed, record_key_id=key.key_id)
    text = str(info.value)
    assert ("credentials of connection 'orders_pg' cannot be decrypted with this "
            f"FLAKEBENCH_CREDENTIAL_KEY (key id {other.key_id}, record key id {key.key_id})"
            in text)
    assert SECRET not in text
    assert other.raw.hex() not in text


def test_tampered_ciphertext_names_the_connection() -> None:
    key = parse_key(_key())
    blob = bytearray(base64.b64decode(seal(key, "orders_pg", SECRET)))
    blob[14] ^= 0x01
    with pytest.raises(CredentialError, match=r"'orders_pg'.*tampered with or renamed") as info:
        open_sealed(key, "orders_pg", base64.b64encode(bytes(blob)).decode(),
                    record_key_id=key.key_id)
    assert SECRET not in str(info.value)


def test_the_name_is_bound_a_renamed_record_does_not_open() -> None:
    key = parse_key(_key())
    sealed = seal(key, "orders_pg", SECRET)
    with pytest.raises(CredentialError, match=r"'other_pg'.*tampered with or renamed"):
        open_sealed(key, "other_pg", sealed, record_key_id=key.key_id)


def test_garbage_is_reported_as_damaged() -> None:
    key = parse_key(_key())
    with pytest.raises(CredentialError, match="'orders_pg' are damaged"):
        open_sealed(key, "orders_pg", "not base64 at all!", record_key_id=key.key_id)


def test_the_key_never_shows_in_its_repr() -> None:
    key = parse_key(_key())
    assert key.raw.hex() not in repr(key)
    assert key.raw.hex() not in str(key)
