"""mariadb-dump of a sharded database through the coordinator, restored through it.

The dump tool reads what the metadata work serves — ``SHOW TABLE STATUS``, ``SHOW CREATE
TABLE`` (with the sharding rule as MariaDB's partitioning trailer), information_schema
(tablespaces, routines), ``SHOW TRIGGERS/EVENTS`` — and sends ``LOCK TABLES``/``UNLOCK
TABLES``, versioned ``/*!40101 SET … */`` lines and ``ALTER TABLE … DISABLE KEYS``. The
file it writes, played back by the ``mariadb`` client into an empty database through the
coordinator, must give the same tables (definition and rule) and the same rows.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.backend_mysql.metadata_env import ROWS, MetadataEnvironment, start_environment

DUMP = shutil.which("mariadb-dump") or shutil.which("mysqldump")
CLIENT = shutil.which("mariadb") or shutil.which("mysql")
#: Columns in primary-key order: a row-by-row comparison needs a stable order.
ORDER = {"items": "id", "order_lines": "order_id, line", "regions": "code", "shops": "id"}


@pytest.fixture(scope="module")
def env() -> Iterator[MetadataEnvironment]:
    if DUMP is None or CLIENT is None:
        pytest.fail("needs mariadb-dump and the mariadb client (apt-get install mariadb-client)")
    e = start_environment(4)
    try:
        yield e
    finally:
        e.stop()


def _contents(env: MetadataEnvironment, db: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with env.connect_sharded() as conn, conn.cursor() as cur:
        for table, order in ORDER.items():
            cur.execute(f"SELECT * FROM `{db}`.`{table}` ORDER BY {order}")
            rows = cur.fetchall()
            cur.execute(f"SHOW CREATE TABLE `{db}`.`{table}`")
            out[table] = {"rows": rows, "count": len(rows), "create": cur.fetchone()[1]}
    return out


@pytest.mark.parametrize(
    "options",
    [
        [],  # the defaults: --lock-tables, --add-locks, --disable-keys, extended inserts
        ["--single-transaction", "--routines", "--events", "--triggers", "--skip-extended-insert"],
    ],
    ids=["defaults", "single-transaction"],
)
def test_dump_and_restore_round_trip(env: MetadataEnvironment, options: list[str]) -> None:
    assert DUMP is not None and CLIENT is not None
    source, target = env.logical_db, f"{env.logical_db}_r"
    common = ["-h127.0.0.1", f"-P{env.port}", "-uroot", "--protocol=tcp"]
    dump = subprocess.run(
        [DUMP, *common, *options, source], capture_output=True, text=True, timeout=120
    )
    assert dump.returncode == 0, dump.stderr
    assert "PARTITION BY HASH (`id`)" in dump.stdout
    with env.connect_sharded() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{target}`")
    try:
        restore = subprocess.run(
            [CLIENT, *common, target],
            input=dump.stdout,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restore.returncode == 0, restore.stderr
        before, after = _contents(env, source), _contents(env, target)
        for table in ORDER:
            print(f"{table}: {after[table]['count']} rows restored")
            assert after[table]["count"] == before[table]["count"] == len(ROWS[table])
            assert after[table]["rows"] == before[table]["rows"]
        # Sharded tables keep their rule; the broadcast table (a TOML declaration, not
        # DDL) comes back with the cluster's default rule unless TOML declares it there.
        for table in ("items", "order_lines", "shops"):
            assert after[table]["create"] == before[table]["create"]
        with env.connect_sharded() as conn, conn.cursor() as cur:
            checks = []
            for db in (source, target):
                cur.execute(
                    f"SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, sku, name, price, qty, created, "
                    f"kind, flag, note, ratio))) FROM `{db}`.items"
                )
                checks.append(cur.fetchone())
            assert checks[0] == checks[1]
    finally:
        with env.connect_sharded() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{target}`")


def test_lock_statements_are_accepted_with_a_warning(env: MetadataEnvironment) -> None:
    with env.connect_sharded() as conn, conn.cursor() as cur:
        cur.execute("LOCK TABLES items READ LOCAL, regions WRITE")
        cur.execute("SHOW WARNINGS")
        ((level, code, message),) = cur.fetchall()
        assert (level, code) == ("Warning", 1235) and "--single-transaction" in message
        cur.execute("UNLOCK TABLES")
        cur.execute("FLUSH TABLES")
        cur.execute("FLUSH TABLES WITH READ LOCK")
        cur.execute("SHOW WARNINGS")
        assert [r[1] for r in cur.fetchall()] == [1235]
        cur.execute("UNLOCK TABLES")
        cur.execute("ALTER TABLE items DISABLE KEYS")
        cur.execute("SHOW WARNINGS")
        assert [r[:2] for r in cur.fetchall()] == [("Note", 1031)]
        with pytest.raises(Exception) as err:
            cur.execute("ALTER TABLE nosuch ENABLE KEYS")
        assert err.value.args[0] == 1146
        with pytest.raises(Exception) as err:
            cur.execute("FLUSH BOGUS THINGS")
        assert err.value.args[0] in (1064, 1235)


def test_versioned_comments_follow_the_server_version(env: MetadataEnvironment) -> None:
    """What runs (/*!40101 …*/) and what is a comment (/*!99999 …*/, the client's
    /*M!999999 sandbox marker), several in one text after ``--`` lines as the mariadb
    client sends a dump's header."""
    with env.connect_sharded() as conn, conn.cursor() as cur:
        cur.execute(
            "/*M!999999\\- enable the sandbox mode */\n-- header\n/*!40101 SET @sgmeta_a = 1 */"
        )
        cur.execute("/*!99999 SET @sgmeta_a = 2 */")
        cur.execute("SELECT @sgmeta_a, '/*!40101 kept */'")
        assert cur.fetchone() == (1, "/*!40101 kept */")


def test_expand_executable_comments_units() -> None:
    from sharding.server.sqlscan import expand_executable_comments as expand

    assert expand("/*!40101 SET NAMES utf8mb4 */").strip() == "SET NAMES utf8mb4"
    assert expand("/*!99999 SET x = 1 */").strip() == ""
    assert expand("/*M!100100 SET a = 1 */").strip() == "SET a = 1"  # MariaDB 10.1 ≤ 10.11
    assert expand("/*M!999999\\- enable the sandbox mode */").strip() == ""
    # Quoted text and plain comments are left alone; several comments in one text.
    text = "SELECT '/*!1 no */', \"/*!1 no */\" /* plain */ /*!40001 SQL_NO_CACHE */ FROM t"
    assert expand(text) == "SELECT '/*!1 no */', \"/*!1 no */\" /* plain */   SQL_NO_CACHE   FROM t"
    assert (
        expand("-- /*!40101 in a line comment */\nSELECT 1")
        == "-- /*!40101 in a line comment */\nSELECT 1"
    )
    assert expand("SELECT 1") == "SELECT 1"
