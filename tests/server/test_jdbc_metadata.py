"""Connector/J DatabaseMetaData through the coordinator answers as MariaDB does.

Every JDBC tool (GUIs, Hibernate validate/update, Flyway, Liquibase) learns the schema
through ``DatabaseMetaData``: Connector/J turns getTables/getColumns/getPrimaryKeys/
getIndexInfo/getImportedKeys into information_schema queries of its own. The program
``java/MetaData.java`` prints every answer one row per line; run against the coordinator
(MariaDB shards) and against a plain MariaDB database with the same DDL, the lines must
be equal (index cardinality, an estimate, is masked by the program).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backend_mysql.metadata_env import MetadataEnvironment, start_environment
from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.server.conftest import JAR, JAVA, JAVA_MISSING, JAVA_READY, JAVAC

SOURCE = Path(__file__).parent / "java" / "MetaData.java"
TABLES = ("items", "order_lines", "regions", "shops")


@pytest.fixture(scope="module")
def metadata_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not JAVA_READY:
        pytest.fail(JAVA_MISSING)
    out = tmp_path_factory.mktemp("java-metadata")
    subprocess.run(
        [str(JAVAC), "-cp", str(JAR), "-d", str(out), str(SOURCE)], check=True, timeout=120
    )
    return out


@pytest.fixture(scope="module")
def env() -> Iterator[MetadataEnvironment]:
    e = start_environment(4)
    try:
        yield e
    finally:
        e.stop()


def _run(classes: Path, host: str, port: int, db: str) -> list[str]:
    url = f"jdbc:mariadb://{host}:{port}/{db}?user=root"
    proc = subprocess.run(
        [str(JAVA), "-cp", f"{JAR}:{classes}", "MetaData", url, db, *TABLES],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.replace(db, "DB").splitlines()


def test_database_metadata_matches_mariadb(
    env: MetadataEnvironment, metadata_program: Path
) -> None:
    oracle = _run(metadata_program, MYSQL_HOST, MYSQL_PORT, env.oracle_db)
    sharded = _run(metadata_program, "127.0.0.1", env.port, env.logical_db)

    def answers(lines: list[str]) -> list[str]:
        # getCatalogs lists every database of the server: only ours is compared;
        # getObject's Java types are the column-type work of issue 14 item 6.
        return [ln for ln in lines if not ln.startswith(("schemas row:", "getObject"))]

    for line in sharded:
        print(line)
    assert answers(sharded) == answers(oracle)
    assert "schemas row: |DB" in sharded
    # The calls really returned rows (not two equal empty answers).
    assert sum(ln.startswith("columns items row:") for ln in sharded) == 10
    assert "primary order_lines row: |DB |null |order_lines |line |2 |PRIMARY" in sharded
    assert any(ln.startswith("index items row:") and "|ix_name |" in ln for ln in sharded)
