"""Stored connections and templates on every store: SQLite in tmp_path, PostgreSQL in a
throwaway database, Snowflake in a fresh database on a fakesnow server (real connector)."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_flakebench.catalog import Catalog, ConnectionRecord, open_catalog
from pytest_flakebench.catalog.lookup import stored_target, stored_template
from pytest_flakebench.credentials import CredentialError, open_sealed, parse_key, seal
from pytest_flakebench.errors import StoreError, TemplateError
from pytest_flakebench.stores import open_store
from pytest_flakebench.urls import sqlite_path
from tests.integration.test_stores import init, query, store_url  # noqa: F401

SECRET = f"s3cret-pw-{secrets.token_hex(4)}"


def execute(url: str, sql: str, params: tuple[object, ...] = ()) -> None:
    """Change the store's tables behind the catalog's back (``flakebench.`` and ``%s``)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            conn.execute(sql.replace("flakebench.", "").replace("%s", "?"), params)
            conn.commit()
        finally:
            conn.close()
    elif url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url) as pg:
            pg.execute(sql, params)
    else:
        query(url, sql, params)


@pytest.fixture
def catalog(store_url: str) -> Iterator[Catalog]:  # noqa: F811
    """The catalog of an initialised store."""
    store = open_store(store_url)
    init(store)
    store.close()
    cat = open_catalog(store_url)
    yield cat
    cat.close()


def _record(name: str, key_hex: str, *, password: str = SECRET) -> ConnectionRecord:
    key = parse_key(key_hex)
    return ConnectionRecord(name=name, kind="postgresql",
                            url="postgresql://bench@127.0.0.1:5432/orders",
                            credentials=seal(key, name, password), key_id=key.key_id,
                            created_at=1000.0, updated_at=1000.0)


def test_connections_round_trip(catalog: Catalog, store_url: str,  # noqa: F811
                                monkeypatch: pytest.MonkeyPatch) -> None:
    key = secrets.token_hex(32)
    monkeypatch.setenv("FLAKEBENCH_CREDENTIAL_KEY", key)
    catalog.put_connection(_record("orders_pg", key))
    catalog.put_connection(replace(_record("plain", key), credentials=None, key_id=None))
    assert [r.name for r in catalog.list_connections()] == ["orders_pg", "plain"]
    got = catalog.get_connection("orders_pg")
    assert got is not None
    assert got.has_password
    assert got.key_id == parse_key(key).key_id
    assert SECRET not in repr(got)
    assert catalog.get_connection("nope") is None
    # a name that exists is refused unless replaced; replacing keeps CREATED_AT
    with pytest.raises(StoreError, match="'orders_pg' already exists"):
        catalog.put_connection(_record("orders_pg", key))
    catalog.put_connection(replace(_record("orders_pg", key), created_at=5.0, updated_at=2000.0),
                           replace=True)
    again = catalog.get_connection("orders_pg")
    assert again is not None
    assert again.created_at == 1000.0
    assert again.updated_at == 2000.0
    assert len(catalog.list_connections()) == 2
    # what a run sees: the URL and the decrypted password
    found = stored_target("orders_pg", store_url=store_url)
    assert found is not None
    assert found.password == SECRET
    assert SECRET not in repr(found)
    assert catalog.remove_connection("plain")
    assert not catalog.remove_connection("plain")
    assert stored_target("plain", store_url=store_url) is None
    # the secret itself is in no column: only its ciphertext
    rows = query(store_url, "SELECT NAME, KIND, URL, CREDENTIALS, KEY_ID "
                 "FROM flakebench.CONNECTIONS")
    assert rows
    assert all(SECRET not in str(v) for row in rows for v in row)


def test_wrong_key_tampered_and_renamed_records_name_the_connection(
        catalog: Catalog, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    key = secrets.token_hex(32)
    catalog.put_connection(_record("orders_pg", key))

    monkeypatch.setenv("FLAKEBENCH_CREDENTIAL_KEY", secrets.token_hex(32))
    with pytest.raises(CredentialError, match=r"connection 'orders_pg' cannot be decrypted "
                       r"with this FLAKEBENCH_CREDENTIAL_KEY \(key id \w{8}, record key id"):
        stored_target("orders_pg", store_url=store_url)

    monkeypatch.setenv("FLAKEBENCH_CREDENTIAL_KEY", key)
    record = catalog.get_connection("orders_pg")
    assert record is not None
    assert record.credentials is not None
    blob = bytearray(record.credentials.encode())
    blob[20] = ord("A") if blob[20] != ord("A") else ord("B")
    execute(store_url, "UPDATE flakebench.CONNECTIONS SET CREDENTIALS = %s WHERE NAME = %s",
            (blob.decode(), "orders_pg"))
    with pytest.raises(CredentialError, match=r"'orders_pg'.*tampered with or renamed") as info:
        stored_target("orders_pg", store_url=store_url)
    assert SECRET not in str(info.value)

    catalog.put_connection(_record("orders_pg", key), replace=True)
    execute(store_url, "UPDATE flakebench.CONNECTIONS SET NAME = %s WHERE NAME = %s",
            ("stolen_pg", "orders_pg"))
    with pytest.raises(CredentialError, match=r"'stolen_pg'.*tampered with or renamed"):
        stored_target("stolen_pg", store_url=store_url)


def test_reseal_is_all_or_nothing(catalog: Catalog) -> None:
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    old_key, new_key = parse_key(old), parse_key(new)
    for name in ("a_pg", "b_pg", "c_pg"):
        catalog.put_connection(_record(name, old, password=f"{SECRET}-{name}"))
    catalog.put_connection(_record("z_pg", secrets.token_hex(32)))  # sealed under another key

    def reseal(r: ConnectionRecord) -> ConnectionRecord:
        plain = open_sealed(old_key, r.name, r.credentials or "", record_key_id=r.key_id or "")
        return replace(r, credentials=seal(new_key, r.name, plain), key_id=new_key.key_id)

    with pytest.raises(CredentialError, match="'z_pg'"):
        catalog.reseal_connections(reseal)
    assert {r.key_id for r in catalog.list_connections() if r.name != "z_pg"} == {old_key.key_id}
    assert catalog.remove_connection("z_pg")
    assert catalog.reseal_connections(reseal) == 3
    for r in catalog.list_connections():
        assert r.key_id == new_key.key_id
        assert open_sealed(new_key, r.name, r.credentials or "",
                           record_key_id=r.key_id) == f"{SECRET}-{r.name}"


def test_templates_keep_every_version(catalog: Catalog, store_url: str) -> None:  # noqa: F811
    assert catalog.list_templates() == []
    assert catalog.get_template("oltp-simple") is None
    for n in (1, 2, 3):
        assert catalog.push_template("oltp-simple", json.dumps({"concurrency": n})) == n
    assert catalog.push_template("other", "{}") == 1
    listed = {t.name: (t.latest, t.versions) for t in catalog.list_templates()}
    assert listed == {"oltp-simple": (3, 3), "other": (1, 1)}
    latest = catalog.get_template("oltp-simple")
    assert latest is not None
    assert latest.version == 3
    v2 = catalog.get_template("oltp-simple", 2)
    assert v2 is not None
    assert json.loads(v2.config) == {"concurrency": 2}
    assert catalog.get_template("oltp-simple", 9) is None
    data, source = stored_template("store:oltp-simple@1", store_url=store_url)
    assert data == {"concurrency": 1}
    assert source == "store:oltp-simple@1"
    assert stored_template("store:oltp-simple", store_url=store_url)[1] == "store:oltp-simple@3"
    with pytest.raises(TemplateError, match="no stored template oltp-simple@9 in results store"):
        stored_template("store:oltp-simple@9", store_url=store_url)


def test_a_missing_sqlite_store_is_not_created_by_a_lookup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    assert stored_target("orders_pg", store_url=url) is None
    with pytest.raises(TemplateError, match="no stored template x"):
        stored_template("store:x", store_url=url)
    assert not (tmp_path / "absent.db").exists()
