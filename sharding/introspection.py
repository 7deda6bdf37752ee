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
from itertools import pairwise
from typing import TYPE_CHECKING

from sharding.api import Result
from sharding.catalog import TableInfo
from sharding.errors import NoDatabaseSelected, NotSupported
from sharding.local_columns import CONSERVATIVE, bigint, show_columns, typed, varchar
from sharding.session_answers import like_to_regex
from sharding.sql.lexer import TOKEN, first_keyword, unescape_mysql_string
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
        body = _after_words(text, 1)  # after SHOW / DESCRIBE / EXPLAIN (and comments)
        inner = _explain_target(body)
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
        words = _words(body, 3)
        first = words[0].upper() if words else ""
        # [FULL] TABLES, TABLE STATUS, [FULL] COLUMNS, INDEX: the information_schema
        # views under SHOW's column names (sharding/information_schema.py).
        shown = await schema.show(text)
        if shown is None:
            shown = await schema.show_other(text)
        if shown is not None:
            return shown
        if first in ("MASTER", "BINARY", "BINLOG", "SLAVE", "REPLICA"):
            raise NotSupported(
                f"SHOW {words[0]}: the sharding coordinator has no binary log of its own "
                "(each data source has one; dump without --master-data, or per data source)"
            )
        if first == "CREATE" and len(words) > 1 and words[1].upper() == "TABLE":
            info = await self._lookup_name(_after_words(body, 2))
            text = await schema.show_create(info)
            return Result(columns=show_columns("CREATE TABLE"), rows=[(info.name, text)])
        if first in ("WARNINGS", "ERRORS"):
            return Result(columns=show_columns("WARNINGS"))
        scope = 1 if first in ("SESSION", "GLOBAL") else 0
        shown_kind = words[scope].upper() if len(words) > scope else ""
        if shown_kind in ("VARIABLES", "STATUS"):
            rows = []
            pattern = _like_pattern(body)
            rx = None if pattern is None else like_to_regex(pattern)
            for name in ("autocommit", "version", "version_comment"):
                if rx is None or rx.match(name):
                    rows.append((name, str(coord.system_variable(name, self.session))))
            return Result(
                columns=show_columns("VARIABLES"),
                rows=rows if shown_kind == "VARIABLES" else [],
            )
        raise NotSupported(f"SHOW {words[0] if words else ''} on the sharding coordinator")

    async def _lookup_name(self, name: str) -> TableInfo:
        parts = _qualified_name(name)
        if len(parts) == 2:
            return await self.coord.catalog.lookup(parts[0], parts[1])
        if not self.session.database:
            raise NoDatabaseSelected("No database selected")
        return await self.coord.catalog.lookup(self.session.database, parts[0])


# -- the statement's words, by the lexer's tokens (quoted names and comments skipped) ----


def _tokens(text: str) -> list[re.Match[str]]:
    return [m for m in TOKEN.finditer(text) if m.lastgroup not in ("ws", "comment")]


def _words(text: str, n: int) -> list[str]:
    """The first ``n`` tokens' texts (comments skipped)."""
    out: list[str] = []
    for m in TOKEN.finditer(text):
        if m.lastgroup in ("ws", "comment"):
            continue
        out.append(m.group())
        if len(out) == n:
            break
    return out


def _after_words(text: str, n: int) -> str:
    """``text`` after its first ``n`` tokens (and the white space after them)."""
    seen = 0
    for m in TOKEN.finditer(text):
        if m.lastgroup in ("ws", "comment"):
            continue
        seen += 1
        if seen == n:
            return text[m.end() :].lstrip()
    return text if seen == 0 else ""


def _explain_target(body: str) -> str:
    """``body`` without a leading EXPLAIN option (EXTENDED, PARTITIONS, FORMAT=x) that
    something follows."""
    toks = _tokens(body)
    skip = 0
    if (
        toks
        and toks[0].lastgroup == "ident"
        and toks[0].group().upper()
        in (
            "EXTENDED",
            "PARTITIONS",
        )
    ):
        skip = 1
    elif (
        len(toks) >= 3
        and toks[0].group().upper() == "FORMAT"
        and toks[1].group() == "="
        and toks[2].lastgroup == "ident"
    ):
        skip = 3
    if skip and len(toks) > skip:
        return body[toks[skip].start() :]
    return body


def _like_pattern(body: str) -> str | None:
    """The value of the string after ``LIKE`` (MySQL's escapes), or None."""
    toks = _tokens(body)
    for m, nxt in pairwise(toks):
        if m.lastgroup == "ident" and m.group().upper() == "LIKE" and nxt.lastgroup == "str":
            return unescape_mysql_string(nxt.group())
    return None


def _qualified_name(name: str) -> list[str]:
    """``db.t``, `` `d b`.`t.x` ``, ``t`` → its parts, unquoted."""
    parts: list[str] = []
    for m in TOKEN.finditer(name):
        kind, tok = m.lastgroup, m.group()
        if kind == "bq":
            parts.append(tok[1:-1].replace("``", "`"))
        elif kind in ("ident", "num"):
            parts.append(tok)
        elif kind in ("ws", "comment") or tok == ".":
            continue
        else:
            break
    return parts or [name.strip()]
