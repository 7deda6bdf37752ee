"""SHOW, DESCRIBE and EXPLAIN answered by the coordinator from its catalog and planner.

The logical view: databases and tables of the catalog (``SHOW DATABASES/TABLES``),
each table's columns and keys as MySQL shows them (``DESCRIBE``, ``SHOW COLUMNS``,
``SHOW CREATE TABLE`` with the sharding rule as a comment), and the plan of a
statement (``EXPLAIN``, ``DESCRIBE SELECT …``: see :mod:`sharding.exec.explain`).
Server-wide SHOW statements (thread pool, processlist, shards, data sources) belong
to the protocol server's admin SQL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sharding.api import Result
from sharding.catalog import TableInfo
from sharding.errors import NoDatabaseSelected, NotSupported
from sharding.local_columns import CONSERVATIVE, bigint, show_columns, typed, varchar
from sharding.sql.lexer import first_keyword
from sharding.sql.parse import mysql_syntax_error

if TYPE_CHECKING:
    from sharding.session import CoordinatorSession


class Introspection:
    """SHOW/DESCRIBE/EXPLAIN of one session (its current database, its plans)."""

    def __init__(self, session: CoordinatorSession) -> None:
        self.session = session
        self.coord = session.coord

    async def run(self, kind: str, sql: str) -> Result:
        """SHOW …, DESCRIBE/DESC (a table or a statement), EXPLAIN."""
        coord = self.coord
        text = sql.strip().rstrip(";").strip()
        body = re.sub(r"^\w+\s*", "", text, count=1)
        inner = re.sub(r"^(EXTENDED|PARTITIONS|FORMAT\s*=\s*\w+)\s+", "", body, flags=re.IGNORECASE)
        statement = first_keyword(inner) in (
            "SELECT",
            "UPDATE",
            "DELETE",
            "INSERT",
            "REPLACE",
            "WITH",
            "(",
        )
        if kind in ("EXPLAIN", "DESCRIBE", "DESC") and (statement or not inner.strip()):
            rows = await self.session.explain_rows(inner)
            # The coordinator's own plan: a row number and two texts (MariaDB's EXPLAIN
            # types its ``id`` BIGINT(3) and its texts VARCHAR).
            return Result(
                columns=[
                    bigint("id", length=3, not_null=True),
                    varchar("operator", 255, not_null=True),
                    typed("detail", CONSERVATIVE),
                ],
                rows=rows,
            )
        # Imported here, not at start-up: ``shardgate serve`` need not load the views
        # before its first DESCRIBE / SHOW.
        from sharding.information_schema import InformationSchema

        schema = InformationSchema(self.session)
        if kind in ("DESCRIBE", "DESC", "EXPLAIN"):
            # EXPLAIN t is DESCRIBE t in MySQL.
            described = await schema.describe(text)
            if described is None:
                raise mysql_syntax_error(sql, 0, "DESCRIBE needs a table")
            return described
        upper = body.upper()
        # [FULL] TABLES, TABLE STATUS, [FULL] COLUMNS, INDEX: the information_schema
        # views under SHOW's column names (sharding/information_schema.py).
        shown = await schema.show(text)
        if shown is None:
            shown = await schema.show_other(text)
        if shown is not None:
            return shown
        if re.match(r"(MASTER|BINARY|BINLOG|SLAVE|REPLICA)\b", upper):
            raise NotSupported(
                f"SHOW {body.split()[0]}: the sharding coordinator has no binary log of its own "
                "(each data source has one; dump without --master-data, or per data source)"
            )
        if upper.startswith("CREATE TABLE"):
            name = body[len("CREATE TABLE") :].strip()
            info = await self._lookup_name(name)
            text = await schema.show_create(info)
            return Result(columns=show_columns("CREATE TABLE"), rows=[(info.name, text)])
        if upper.startswith(("WARNINGS", "ERRORS")):
            return Result(columns=show_columns("WARNINGS"))
        if re.match(r"(SESSION\s+|GLOBAL\s+)?(VARIABLES|STATUS)\b", upper):
            rows = []
            m = re.search(r"LIKE\s+'([^']*)'", body, re.IGNORECASE)
            for name in ("autocommit", "version", "version_comment"):
                if m is None or _like(name, m.group(1)):
                    rows.append((name, str(coord.system_variable(name, self.session))))
            return Result(
                columns=show_columns("VARIABLES"),
                rows=rows if "VARIABLES" in upper else [],
            )
        raise NotSupported(
            f"SHOW {body.split()[0] if body.split() else ''} on the sharding coordinator"
        )

    async def _lookup_name(self, name: str) -> TableInfo:
        parts = [p.strip("`") for p in name.strip().split(".")]
        if len(parts) == 2:
            return await self.coord.catalog.lookup(parts[0], parts[1])
        if not self.session.database:
            raise NoDatabaseSelected("No database selected")
        return await self.coord.catalog.lookup(self.session.database, parts[0])


def _like(name: str, pattern: str) -> bool:
    regex = "^" + re.escape(pattern).replace("%", ".*").replace("_", ".") + "$"
    return re.match(regex, name, re.IGNORECASE) is not None
