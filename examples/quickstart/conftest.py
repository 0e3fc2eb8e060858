"""Creates the quickstart's demo database (SQLite, no server needed) and resets it before each test.

The benchmark inserts rows. Left to grow, the table would change what is measured from one
session to the next (and the run would be "not comparable" with the last one: ``row_count``
is part of the fingerprint), so every test starts from the same 20,000 rows. Do the same
for your own write benchmarks: reset what the benchmark wrote, or load a fresh table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

DEMO_DB = Path(__file__).parent.parent / ".flakebench" / "demo.db"
ROWS = 20_000


@pytest.fixture(scope="session", autouse=True)
def demo_orders() -> Path:
    """``orders(id, customer, total, created)`` with exactly rows 1..20,000 at session start."""
    DEMO_DB.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(DEMO_DB, timeout=30) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, "
            "total REAL NOT NULL, created TEXT NOT NULL)"
        )
        conn.execute("DELETE FROM orders WHERE id > ?", (ROWS,))  # what earlier runs inserted
        if conn.execute("SELECT count(*) FROM orders").fetchone()[0] != ROWS:
            conn.execute("DELETE FROM orders")
            conn.executemany(
                "INSERT INTO orders VALUES (?, ?, ?, '2026-01-01 00:00:00')",
                ((i, f"customer-{i % 500}", round(i * 0.37, 2)) for i in range(1, ROWS + 1)),
            )
    conn.close()
    return DEMO_DB


@pytest.fixture(autouse=True)
def fresh_orders(demo_orders: Path) -> None:
    """Before each test, drop the rows an earlier benchmark inserted: same data, same figures."""
    with sqlite3.connect(demo_orders, timeout=30) as conn:
        conn.execute("DELETE FROM orders WHERE id > ?", (ROWS,))
    conn.close()
