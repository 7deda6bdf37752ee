"""Cluster-wide singletons: a lease row in the catalog database.

Why: every coordinator process (N workers on each of M hosts) runs the periodic XA
recovery pass. The decision log already makes concurrent passes safe, so two holders
at once would only duplicate work, but the work (``XA RECOVER`` on every server, every
period, by every process) grows with the fleet. A lease row names the one process that
does it; the others skip their periodic passes and take over when the holder stops
renewing (it died, or froze) for ``ttl`` seconds.

Only the catalog server's clock is used (``NOW(6)``), so coordinators' clocks never
matter. One upsert claims or renews: MariaDB applies the ``ON DUPLICATE KEY UPDATE``
assignments left to right, so ``expires`` is extended exactly when ``holder`` is (now)
the caller; a read then says who holds it.

Invariant: at any instant at most one holder has an unexpired row; a holder that
cannot reach the catalog cannot renew, so it loses the lease after ``ttl``.
"""

from __future__ import annotations

from sharding.backend.mysql import MySQLDataSource
from sharding.errors import BackendError

__all__ = ["LEASES_TABLE", "hold_lease", "release_lease"]

LEASES_TABLE = "leases"


def _table(catalog: str) -> str:
    return f"`{catalog.replace('`', '``')}`.`{LEASES_TABLE}`"


def _bin(text: str) -> str:
    return "0x" + text.encode().hex() if text else "''"


async def _ensure(ds: MySQLDataSource, catalog: str) -> None:
    await ds.execute(f"CREATE DATABASE IF NOT EXISTS `{catalog.replace('`', '``')}`")
    await ds.execute(
        f"CREATE TABLE IF NOT EXISTS {_table(catalog)} ("
        "name VARCHAR(64) NOT NULL PRIMARY KEY, "
        "holder VARBINARY(255) NOT NULL, "
        "expires DATETIME(6) NOT NULL) ENGINE=InnoDB"
    )


async def hold_lease(ds: MySQLDataSource, catalog: str, name: str, holder: str, ttl: float) -> bool:
    """Claim or renew lease ``name`` for ``holder`` for ``ttl`` seconds; True when
    ``holder`` holds it now."""
    t, h, n = _table(catalog), _bin(holder), _bin(name)
    upsert = (
        f"INSERT INTO {t} (name, holder, expires) VALUES ({n}, {h}, NOW(6) + INTERVAL {float(ttl)!r} SECOND) "
        "ON DUPLICATE KEY UPDATE "
        "holder = IF(holder = VALUES(holder) OR expires < NOW(6), VALUES(holder), holder), "
        "expires = IF(holder = VALUES(holder), VALUES(expires), expires)"
    )
    try:
        await ds.execute(upsert)
    except BackendError as exc:
        if exc.code not in (1146, 1049):  # no such table / database: first use
            raise
        await _ensure(ds, catalog)
        await ds.execute(upsert)
    rs = await ds.fetch(f"SELECT holder = {h} FROM {t} WHERE name = {n}")
    return bool(rs.rows and rs.rows[0][0])


async def release_lease(ds: MySQLDataSource, catalog: str, name: str, holder: str) -> None:
    """Give lease ``name`` up at once if ``holder`` holds it (clean shutdown)."""
    await ds.execute(
        f"UPDATE {_table(catalog)} SET expires = NOW(6) - INTERVAL 1 SECOND "
        f"WHERE name = {_bin(name)} AND holder = {_bin(holder)}"
    )
