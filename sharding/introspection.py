"""SHOW, DESCRIBE and EXPLAIN answered by the coordinator from its catalog and planner.

The logical view: databases and tables of the catalog (``SHOW DATABASES/TABLES``),
each table's columns and keys as MySQL shows them (``DESCRIBE``, ``SHOW COLUMNS``,
``SHOW CREATE TABLE`` with the sharding rule as a comment), and the plan of a
statement (``EXPLAIN``, ``DESCRIBE SELECT …``: see :mod:`sharding.sql.explain`).
Server-wide SHOW statements (thread pool, processlist, shards, data sources) belong
to the protocol server's admin SQL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sharding.api import Result
from sharding.backend.base import Column
from sharding.catalog import TableInfo
from sharding.errors import NoDatabaseSelected, NotSupported
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
        if kind == "EXPLAIN" or (
            kind in ("DESCRIBE", "DESC")
            and first_keyword(body) in ("SELECT", "UPDATE", "DELETE", "INSERT", "REPLACE", "WITH")
        ):
            inner = re.sub(
                r"^(EXTENDED|PARTITIONS|FORMAT\s*=\s*\w+)\s+", "", body, flags=re.IGNORECASE
            )
            rows = await self.session.explain_rows(inner)
            return Result(columns=[Column("id"), Column("operator"), Column("detail")], rows=rows)
        if kind in ("DESCRIBE", "DESC"):
            m = re.match(r"([`\w.]+)", body)
            if not m:
                raise mysql_syntax_error(sql, 0, "DESCRIBE needs a table")
            return await self._describe(m.group(1))
        upper = body.upper()
        if re.match(r"(FULL\s+)?COLUMNS\s+(FROM|IN)\s+", upper) or re.match(
            r"(FULL\s+)?FIELDS\s+(FROM|IN)\s+", upper
        ):
            m = re.match(
                r"(?:FULL\s+)?(?:COLUMNS|FIELDS)\s+(?:FROM|IN)\s+([`\w.]+)(?:\s+(?:FROM|IN)\s+([`\w]+))?",
                body,
                re.IGNORECASE,
            )
            assert m is not None
            name = m.group(1) if not m.group(2) else f"{m.group(2)}.{m.group(1)}"
            return await self._describe(name)
        if upper.startswith("DATABASES") or upper.startswith("SCHEMAS"):
            await coord.catalog.reload()
            names = coord.catalog.databases()
            names = _like_filter(names, body)
            return Result(columns=[Column("Database")], rows=[(n,) for n in names])
        if re.match(r"(FULL\s+)?TABLES\b", upper):
            m = re.search(r"\b(?:FROM|IN)\s+`?(\w+)`?", body, re.IGNORECASE)
            database = m.group(1) if m else self.session.database
            if not database:
                raise NoDatabaseSelected("No database selected")
            await coord.catalog.check_database(database)
            await coord.catalog.reload()
            names = _like_filter([t.name for t in coord.catalog.tables(database)], body)
            full = upper.startswith("FULL")
            cols = [Column(f"Tables_in_{database}")] + ([Column("Table_type")] if full else [])
            rows = [((n, "BASE TABLE") if full else (n,)) for n in names]
            return Result(columns=cols, rows=rows)
        if upper.startswith("CREATE TABLE"):
            name = body[len("CREATE TABLE") :].strip()
            info = await self._lookup_name(name)
            return Result(
                columns=[Column("Table"), Column("Create Table")],
                rows=[(info.name, _show_create(info))],
            )
        if upper.startswith(("WARNINGS", "ERRORS")):
            return Result(columns=[Column("Level"), Column("Code"), Column("Message")])
        if re.match(r"(SESSION\s+|GLOBAL\s+)?(VARIABLES|STATUS)\b", upper):
            rows = []
            m = re.search(r"LIKE\s+'([^']*)'", body, re.IGNORECASE)
            for name in ("autocommit", "version", "version_comment"):
                if m is None or _like(name, m.group(1)):
                    rows.append((name, str(coord.system_variable(name, self.session))))
            return Result(
                columns=[Column("Variable_name"), Column("Value")],
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

    async def _describe(self, name: str) -> Result:
        info = await self._lookup_name(name)
        rows = []
        pk = {c.lower() for c in info.primary_key}
        unique = {i.columns[0].lower() for i in info.indexes if i.unique}
        multiple = {i.columns[0].lower() for i in info.indexes if not i.unique}
        for c in info.columns:
            key = (
                "PRI"
                if c.name.lower() in pk
                else "UNI"
                if c.name.lower() in unique
                else "MUL"
                if c.name.lower() in multiple
                else ""
            )
            extra = "auto_increment" if c.auto_increment else ""
            # A PRIMARY KEY column is NOT NULL in MySQL even when not declared so (tables
            # created before the catalog recorded that, and declared TOML tables).
            nullable = c.nullable and c.name.lower() not in pk
            rows.append(
                (c.name, c.type.lower(), "YES" if nullable else "NO", key, c.default, extra)
            )
        cols = ["Field", "Type", "Null", "Key", "Default", "Extra"]
        return Result(columns=[Column(c) for c in cols], rows=rows)


def _like(name: str, pattern: str) -> bool:
    regex = "^" + re.escape(pattern).replace("%", ".*").replace("_", ".") + "$"
    return re.match(regex, name, re.IGNORECASE) is not None


def _like_filter(names: list[str], body: str) -> list[str]:
    m = re.search(r"LIKE\s+'([^']*)'", body, re.IGNORECASE)
    if m is None:
        return names
    return [n for n in names if _like(n, m.group(1))]


def _show_create(info: TableInfo) -> str:
    text = info.create_sql.strip().rstrip(";")
    if info.rule.broadcast:
        return text + " /* shardgate: broadcast */"
    rule = info.rule
    return f"{text} /* shardgate: {rule.algorithm}({rule.shard_key}) x {rule.shards} shards on {', '.join(sorted(set(rule.datasources)))} */"
