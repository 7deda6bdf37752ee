"""What ORMs and JDBC do in transactions, through the coordinator and against MariaDB.

* SQLAlchemy's ORM updates a row whose value does not change and checks the matched
  row count (CLIENT_FOUND_ROWS, which its MySQL dialects set): a coordinator that
  reported changed rows made it raise StaleDataError (issue 11).
* Connector/J savepoints, as Spring's nested transactions use them (issue 14.7):
  setSavepoint / rollback(savepoint) / releaseSavepoint across shards; the program
  prints what it sees, and the lines must equal MariaDB's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tests.conftest import MYSQL_HOST, MYSQL_PORT
from tests.fidelity.harness import environment
from tests.server.conftest import JAR, JAVA, JAVA_MISSING, JAVA_READY, JAVAC

pytestmark = pytest.mark.mysql

SOURCE = Path(__file__).parent / "java" / "Savepoints.java"


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    tier: Mapped[int | None] = mapped_column(Integer)


def test_orm_update_of_an_unchanged_value_is_not_stale() -> None:
    env = environment(16, 1000)

    for url in (
        f"mysql+pymysql://root@127.0.0.1:{env.port}/{env.logical_db}",
        f"mysql+pymysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{env.oracle_db}",
    ):
        engine = create_engine(url)
        try:
            with Session(engine) as session:
                customer = session.scalars(select(Customer).where(Customer.id == 3)).one()
                original = customer.name
                # The row already holds the new value (another writer, or the same
                # one twice): the ORM's UPDATE matches 1 row and changes 0. Its
                # dialect asked for found rows, so 1 must come back, else
                # StaleDataError ("expected to update 1 row(s); 0 were matched").
                session.execute(text("UPDATE customers SET name = 'same' WHERE id = 3"))
                customer.name = "same"
                session.flush()
                session.rollback()
            with Session(engine) as session:
                assert session.get(Customer, 3).name == original
        finally:
            engine.dispose()


def test_jdbc_savepoints_match_mariadb(tmp_path: Path) -> None:
    if not JAVA_READY:
        pytest.fail(JAVA_MISSING)
    env = environment(16, 1000)
    subprocess.run(
        [str(JAVAC), "-cp", str(JAR), "-d", str(tmp_path), str(SOURCE)], check=True, timeout=120
    )

    def run(port: int, db: str) -> list[str]:
        url = f"jdbc:mariadb://127.0.0.1:{port}/{db}?user=root&password="
        out = subprocess.run(
            [str(JAVA), "-cp", f"{JAR}:{tmp_path}", "Savepoints", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.splitlines()

    oracle = run(MYSQL_PORT, env.oracle_db)
    sharded = run(env.port, env.logical_db)
    print("\n".join(sharded))
    assert len(oracle) == 4
    assert sharded == oracle
