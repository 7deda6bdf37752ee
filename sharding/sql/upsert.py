"""``INSERT … ON DUPLICATE KEY UPDATE`` on a sharded table: checked once, filled per call.

The INSERT fast path (:mod:`sharding.sql.insert`) keeps the clause after the VALUES
rows as source text and appends it to every shard's statement. Three things make the
verbatim text wrong on a shard, so the clause is scanned once, with the one lexer:

* **An assignment to the shard key** would change the key of the existing row *on its
  old shard*: the row then lives on a shard its key does not route to, and a later
  INSERT of that key creates a second row — a duplicate primary key across shards.
  Refused, as UPDATE of the shard key is (1235); moving rows is the write path's job.
* **``?`` parameters** in the clause come after every row's parameters (they are
  last in the text); they are filled per call like the rows' own.
* **Columns qualified by the logical table** (``t.col``, ``db.t.col``) name a table the
  shard does not have; inside the clause only the inserted table is in scope, so the
  qualifier is dropped.

Any other tail (``RETURNING``, MySQL 8's row alias) is refused: its results or names
would need merging that the fast path does not do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sharding.backend.sqlite_mysql import SQLITE_IGNORE_MARK
from sharding.catalog import TableInfo
from sharding.errors import BadArguments, NotSupported, ShardKeyUpdate
from sharding.sql.lexer import TOKEN, unescape_mysql_string
from sharding.sql.literals import quote_identifier, render_literal
from sharding.sql.parse import mysql_syntax_error

_HEAD = ("ON", "DUPLICATE", "KEY", "UPDATE")


@dataclass(frozen=True, slots=True)
class UpsertClause:
    """The ``ON DUPLICATE KEY UPDATE …`` text split at its ``?`` parameters."""

    pieces: tuple[str, ...]
    #: Assigned columns, as written (unqualified).
    targets: tuple[str, ...]

    @property
    def params(self) -> int:
        return len(self.pieces) - 1

    def render(self, dialect: str, params: Sequence[Any] | None) -> str:
        """The clause with this call's values; its parameters are the call's last."""
        if not self.params:
            return self.pieces[0]
        first = (len(params) if params is not None else 0) - self.params
        if params is None or first < 0:
            raise BadArguments("not enough parameters for the statement")
        out = [self.pieces[0]]
        for i in range(self.params):
            out.append(render_literal(params[first + i], dialect))
            out.append(self.pieces[i + 1])
        return "".join(out)

    def for_sqlite(self, *, ignore: bool = False) -> UpsertClause:
        """The clause as SQLite's upsert, for the embedded default (issue 15):
        ``ON CONFLICT DO UPDATE SET`` without a conflict target (SQLite >= 3.35: any
        uniqueness constraint, as MySQL's any unique key), ``VALUES(col)`` →
        ``excluded.col``, MySQL string literals re-rendered (backslash escapes).
        ``ignore`` (``INSERT IGNORE … ON DUPLICATE KEY UPDATE``) marks the clause with
        :data:`SQLITE_IGNORE_MARK`, so the backend refuses what IGNORE would adjust."""
        pieces = [_sqlite_piece(p, head=i == 0) for i, p in enumerate(self.pieces)]
        if ignore:
            pieces[0] = f"{SQLITE_IGNORE_MARK} {pieces[0]}"
        return UpsertClause(tuple(pieces), self.targets)


#: The tail of a plain ``INSERT IGNORE`` on SQLite shards: duplicates are skipped, as
#: MySQL's IGNORE does (SQLite's ``OR IGNORE`` would skip NOT NULL/CHECK failures too).
SQLITE_INSERT_IGNORE = UpsertClause((f"{SQLITE_IGNORE_MARK} ON CONFLICT DO NOTHING",), ())


def _sqlite_piece(text: str, *, head: bool) -> str:
    tokens = [(m.lastgroup or "", m.group()) for m in TOKEN.finditer(text)]
    out: list[str] = []
    i = 0
    if head:  # the checked ``ON DUPLICATE KEY UPDATE`` (scan_upsert)
        seen = 0
        while i < len(tokens) and seen < len(_HEAD):
            seen += tokens[i][0] not in ("ws", "comment")
            i += 1
        out.append("ON CONFLICT DO UPDATE SET")
    significant = [j for j, t in enumerate(tokens) if t[0] not in ("ws", "comment")]
    after = {j: k for k, j in enumerate(significant)}
    while i < len(tokens):
        kind, tok = tokens[i]
        k = after.get(i)
        if (
            kind == "ident"
            and tok.upper() == "VALUES"
            and k is not None
            and k + 3 < len(significant)
            and tokens[significant[k + 1]][1] == "("
            and tokens[significant[k + 2]][0] in ("ident", "bq")
            and tokens[significant[k + 3]][1] == ")"
        ):
            out.append(
                "excluded." + quote_identifier(_name(tokens[significant[k + 2]][1]), "sqlite")
            )
            i = significant[k + 3] + 1
            continue
        if kind == "str":
            out.append(render_literal(unescape_mysql_string(tok), "sqlite"))
        else:
            out.append(tok)
        i += 1
    return "".join(out)


def _name(token: str) -> str:
    return token[1:-1].replace("``", "`") if token.startswith("`") else token


def scan_upsert(tail: str, info: TableInfo) -> UpsertClause:
    """Check and split the clause after an INSERT's rows (see module docstring)."""
    tokens = [
        (m.lastgroup or "", m.group(), m.start())
        for m in TOKEN.finditer(tail)
        if m.lastgroup not in ("ws", "comment")
    ]
    if not tokens:  # only comments after the rows: nothing to append
        return UpsertClause(("",), ())
    words = [t[1].upper() for t in tokens[: len(_HEAD)]]
    if tuple(words) != _HEAD:
        first = tokens[0][1].upper() if tokens else ""
        if first in ("RETURNING", "AS"):
            raise NotSupported(f"INSERT ... {first} on a sharded table")
        raise mysql_syntax_error(
            tail, tokens[0][2] if tokens else 0, "unexpected text after VALUES"
        )
    table = info.name.lower()
    database = info.database.lower()
    key = info.rule.shard_key.lower() if info.rule.shard_key and not info.broadcast else None
    pieces: list[str] = []
    current: list[str] = []
    targets: list[str] = []
    depth = 0
    expect_target = True
    skip_until = -1
    pos = 0
    for i, (kind, text, start) in enumerate(tokens):
        if i < len(_HEAD):
            continue
        if i <= skip_until:
            continue
        # Qualified names: drop ``db.`` and ``t.`` when they name the inserted table.
        if kind in ("ident", "bq") and i + 2 < len(tokens) and tokens[i + 1][1] == ".":
            qualifier = _name(text).lower()
            nxt_kind, nxt_text, _ = tokens[i + 2]
            if (
                qualifier == database
                and nxt_kind in ("ident", "bq")
                and i + 4 < len(tokens)
                and tokens[i + 3][1] == "."
                and _name(nxt_text).lower() == table
            ):
                current.append(tail[pos:start])
                pos = tokens[i + 4][2]
                skip_until = i + 3
                kind, text, start = tokens[i + 4]
                if expect_target and depth == 0:
                    targets.append(_name(text))
                    expect_target = False
                continue
            if qualifier == table:
                current.append(tail[pos:start])
                pos = tokens[i + 2][2]
                skip_until = i + 1
                if expect_target and depth == 0:
                    targets.append(_name(nxt_text))
                    expect_target = False
                continue
        if expect_target and depth == 0 and kind in ("ident", "bq"):
            targets.append(_name(text))
            expect_target = False
        elif kind == "param":
            current.append(tail[pos:start])
            pieces.append("".join(current))
            current = []
            pos = start + 1
        elif text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif text == "," and depth == 0:
            expect_target = True
    current.append(tail[pos:])
    pieces.append("".join(current))
    if key is not None:
        for target in targets:
            if target.lower() == key:
                raise ShardKeyUpdate(
                    f"ON DUPLICATE KEY UPDATE of the shard key {info.qualified}.{info.rule.shard_key} "
                    "would leave the row on a shard its new key does not route to; "
                    "delete and re-insert instead"
                )
    return UpsertClause(tuple(pieces), tuple(targets))
