"""Cluster-wide singletons: lease rows in the catalog database.

Why: every coordinator process (N workers on each of M hosts) runs the periodic XA
recovery pass. The decision log already makes concurrent passes safe, so two holders
at once would only duplicate work, but the work (``XA RECOVER`` on every server, every
period, by every process) grows with the fleet. A lease row names the one process that
does it; the others skip their periodic passes and take over when the holder stops
renewing (it died, or froze) for ``ttl`` seconds.

A lease covers exactly what its holder can do. XA recovery needs one lease per *server*
(``sharding.exec.xa`` names them by the server's identity), not one per catalog:
coordinators of different topologies may share a catalog, and a holder of a single
cluster-wide lease would recover only the servers of its own topology, leaving a dead
coordinator's prepared branches on the others (and their row locks) to wait. With a
lease per server, every server that anyone can reach has a holder that reaches it.
:func:`hold_leases` claims or renews a whole set in one round trip.

Only the catalog server's clock is used (``NOW(6)``), so coordinators' clocks never
matter. One upsert claims or renews: MariaDB applies the ``ON DUPLICATE KEY UPDATE``
assignments left to right, so ``expires`` is extended exactly when ``holder`` is (now)
the caller; a read then says which of the names the caller holds. Rows are written in
name order, so two processes claiming overlapping sets lock them in the same order.

Invariant: at any instant at most one holder has an unexpired row per name; a holder
that cannot reach the catalog cannot renew, so it loses its leases after ``ttl``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sharding.backend.mysql import MySQLDataSource
from sharding.errors import BackendError

__all__ = ["LEASES_TABLE", "hold_lease", "hold_leases", "release_lease", "release_leases"]

LEASES_TABLE = "leases"
#: Longest lease name (the ``name`` column).
NAME_MAX = 64
#: Deadlock / lock wait timeout: the claim is retried once (it is idempotent).
_RETRY_CODES = frozenset({1205, 1213})


def _table(catalog: str) -> str:
    return f"`{catalog.replace('`', '``')}`.`{LEASES_TABLE}`"


def _bin(text: str) -> str:
    return "0x" + text.encode().hex() if text else "''"


async def _ensure(ds: MySQLDataSource, catalog: str) -> None:
    await ds.execute(f"CREATE DATABASE IF NOT EXISTS `{catalog.replace('`', '``')}`")
    await ds.execute(
        f"CREATE TABLE IF NOT EXISTS {_table(catalog)} ("
        f"name VARCHAR({NAME_MAX}) NOT NULL PRIMARY KEY, "
        "holder VARBINARY(255) NOT NULL, "
        "expires DATETIME(6) NOT NULL) ENGINE=InnoDB"
    )


def _names(names: Iterable[str]) -> list[str]:
    out = sorted(set(names))
    for name in out:
        if not name or len(name) > NAME_MAX:
            raise ValueError(f"lease name must be 1 to {NAME_MAX} characters: {name!r}")
    return out


async def hold_leases(
    ds: MySQLDataSource, catalog: str, names: Iterable[str], holder: str, ttl: float
) -> set[str]:
    """Claim or renew each lease of ``names`` for ``holder`` for ``ttl`` seconds; return
    the names ``holder`` holds now (those free or expired are taken, others' stay)."""
    wanted = _names(names)
    if not wanted:
        return set()
    t, h = _table(catalog), _bin(holder)
    expires = f"NOW(6) + INTERVAL {float(ttl)!r} SECOND"
    upsert = (
        f"INSERT INTO {t} (name, holder, expires) VALUES "
        + ", ".join(f"({_bin(n)}, {h}, {expires})" for n in wanted)
        + " ON DUPLICATE KEY UPDATE "
        "holder = IF(holder = VALUES(holder) OR expires < NOW(6), VALUES(holder), holder), "
        "expires = IF(holder = VALUES(holder), VALUES(expires), expires)"
    )
    try:
        await ds.execute(upsert)
    except BackendError as exc:
        if exc.code in (1146, 1049):  # no such table / database: first use
            await _ensure(ds, catalog)
        elif exc.code not in _RETRY_CODES:
            raise
        await ds.execute(upsert)
    rs = await ds.fetch(
        f"SELECT name FROM {t} WHERE holder = {h} AND name IN ({', '.join(_bin(n) for n in wanted)})"
    )
    return {r[0].decode() if isinstance(r[0], bytes) else str(r[0]) for r in rs.rows}


async def hold_lease(ds: MySQLDataSource, catalog: str, name: str, holder: str, ttl: float) -> bool:
    """Claim or renew lease ``name`` for ``holder`` for ``ttl`` seconds; True when
    ``holder`` holds it now."""
    return name in await hold_leases(ds, catalog, [name], holder, ttl)


async def release_leases(
    ds: MySQLDataSource, catalog: str, names: Iterable[str], holder: str
) -> None:
    """Give the leases of ``names`` that ``holder`` holds up at once (clean shutdown)."""
    wanted = _names(names)
    if not wanted:
        return
    await ds.execute(
        f"UPDATE {_table(catalog)} SET expires = NOW(6) - INTERVAL 1 SECOND "
        f"WHERE holder = {_bin(holder)} AND name IN ({', '.join(_bin(n) for n in wanted)})"
    )


async def release_lease(ds: MySQLDataSource, catalog: str, name: str, holder: str) -> None:
    """Give lease ``name`` up at once if ``holder`` holds it (clean shutdown)."""
    await release_leases(ds, catalog, [name], holder)
