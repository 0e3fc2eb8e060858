"""Creates the quickstart's demo database (SQLite, no server needed) once per session."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

DEMO_DB = Path(__file__).parent.parent / ".flakebench" / "demo.db"
ROWS = 20_000


@pytest.fixture(scope="session", autouse=True)
def demo_orders() -> Path:
    """``orders(id, customer, total, created)`` with 20,000 rows in ``.flakebench/demo.db``."""
    DEMO_DB.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(DEMO_DB) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, "
            "total REAL NOT NULL, created TEXT NOT NULL)"
        )
        if conn.execute("SELECT count(*) FROM orders").fetchone()[0] < ROWS:
            conn.execute("DELETE FROM orders")
            conn.executemany(
                "INSERT INTO orders VALUES (?, ?, ?, '2026-01-01 00:00:00')",
                ((i, f"customer-{i % 500}", round(i * 0.37, 2)) for i in range(1, ROWS + 1)),
            )
    conn.close()
    return DEMO_DB
