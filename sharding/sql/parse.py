"""Parse MySQL text with sqlglot; turn failures into MySQL's own parse error.

Statements arrive in MySQL syntax (clients speak the MySQL protocol) whatever the
backend. sqlglot's MySQL parser is used with one change: each ``?`` placeholder records
its offset in the text, so a placeholder can be matched to its literal or parameter
slot (:mod:`sharding.sql.lexer`) without relying on tree-walk order (``LIMIT a, b``
stores ``b`` before ``a``).

Errors: a statement sqlglot cannot parse raises :class:`~sharding.errors.ParseError`
(1064) whose message has MySQL's shape — "... near '<text from the offending token>' at
line N" — plus sqlglot's one-line reason. sqlglot's silent fallback to an opaque
``Command`` for unsupported syntax is treated as an error too (its caller decides
whether a ``Command`` is acceptable).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from typing import Any, ClassVar, cast

import sqlglot
from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

from sharding.errors import (
    EmptyQuery,
    NotSupported,
    ParseError,
    ShardgateError,
    syntax_error_message,
)
from sharding.sql.lexer import json_arrow_offset

# sqlglot logs a warning whenever it falls back to exp.Command; we report it ourselves.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

PLACEHOLDER_START = "sg_start"
#: Meta key of a GROUP BY element written with ASC (False) or DESC (True).
GROUP_ORDER = "sg_group_desc"

#: sqlglot parses by recursive descent, ~25 Python frames per nesting level, so
#: Python's default limit (1000) refused ``SELECT ((((…1…))))`` past ~38 levels with a
#: RecursionError (1105), where MariaDB accepts 500 and more. This limit lets ~600
#: levels parse (and the later stages, which use fewer frames per level, follow);
#: deeper statements get a clean 1436. Raised, never lowered; 16k Python frames fit the
#: 8 MB stacks of the main and worker threads (checked at 5000 levels).
RECURSION_LIMIT = 16_000
if sys.getrecursionlimit() < RECURSION_LIMIT:
    sys.setrecursionlimit(RECURSION_LIMIT)


class IntervalCall:
    """A sqlglot parser mixin: MariaDB's ``INTERVAL(N, N1, …)`` read as a call (used by
    :class:`ShardgateMySQL` and by the SQLite shard statements' re-parse,
    :mod:`sharding.backend.sqlite_reparse`)."""

    def _parse_interval(
        self: Any, require_interval: bool = True, parse_function_unit: bool = True
    ) -> exp.Expr | None:
        """MariaDB's ``INTERVAL(N, N1, N2, …)`` function (the index of the last
        ``Ni <= N``) as a call: sqlglot read it as an ``INTERVAL <value> <unit>``
        literal whose value was the list — taking the alias, or ``+ 1 x``, for its
        unit — and wrote it back as ``INTERVAL ((n, 5, 10)) K``, which no server
        parses. ``INTERVAL`` right before a parenthesised list of two or more
        expressions is the function (an interval's value is one expression:
        ``INTERVAL (1) DAY`` stays an interval)."""
        if (
            require_interval
            and self._curr is not None
            and self._curr.token_type == TokenType.INTERVAL
            and self._next is not None
            and self._next.token_type == TokenType.L_PAREN
        ):
            index = self._index
            self._advance(2)
            args = self._parse_csv(self._parse_assignment)
            if len(args) >= 2 and self._match(TokenType.R_PAREN):
                return cast(
                    exp.Expr,
                    self.expression(exp.Anonymous(this="INTERVAL", expressions=args)),
                )
            self._retreat(index)
        parent = super()._parse_interval  # type: ignore[misc]
        return cast("exp.Expr | None", parent(require_interval, parse_function_unit))


class ShardgateMySQL(MySQL):
    """MySQL dialect whose placeholders remember where they are in the text."""

    class Parser(IntervalCall, MySQL.Parser):  # type: ignore[valid-type,misc]
        # ``DEFAULT(col)``, MySQL's function (the column's default), anywhere an
        # expression may be (``SET n = DEFAULT(n) + 1``): sqlglot read it as a syntax
        # error or an alias. A bare ``DEFAULT`` is read as before.
        FUNC_TOKENS: ClassVar[set[Any]] = {*MySQL.Parser.FUNC_TOKENS, TokenType.DEFAULT}

        PLACEHOLDER_PARSERS: ClassVar[dict[Any, Any]] = {
            **MySQL.Parser.PLACEHOLDER_PARSERS,
            TokenType.PLACEHOLDER: lambda self: self._sg_placeholder(),
        }

        # ``GROUP BY a DESC, b``: MariaDB's grouping with a direction per column (its
        # implicit sort of the groups, descending where asked). sqlglot has no such
        # grammar (1064): each top-level element of a GROUP BY may be followed by ASC
        # or DESC, recorded on the element (``GROUP_ORDER``) for :func:`_group_order`.
        _sg_group_element = False

        def _parse_group(self, skip_group_by_token: bool = False) -> exp.Group | None:
            self._sg_group_element = True
            try:
                return cast("exp.Group | None", super()._parse_group(skip_group_by_token))
            finally:
                self._sg_group_element = False

        def _parse_disjunction(self) -> exp.Expr | None:
            if not self._sg_group_element:
                return cast("exp.Expr | None", super()._parse_disjunction())
            self._sg_group_element = False  # what the element holds parses as usual
            try:
                node = cast("exp.Expr | None", super()._parse_disjunction())
            finally:
                self._sg_group_element = True
            if node is not None and self._match_set((TokenType.ASC, TokenType.DESC)):
                node.meta[GROUP_ORDER] = self._prev.token_type == TokenType.DESC
            return node

        def _sg_placeholder(self) -> exp.Expr:
            node = self.expression(exp.Placeholder())
            node.meta[PLACEHOLDER_START] = self._prev.start
            return cast(exp.Expr, node)


DIALECT = ShardgateMySQL()


class JsonArrayAgg(exp.Expression, exp.AggFunc):
    """MariaDB's ``JSON_ARRAYAGG``, which sqlglot reads as an unknown function: an
    ``AggFunc`` for every pass (the planner refuses it over several shards by name;
    one shard runs it), written back as it was written (``DISTINCT``, ``ORDER BY``,
    ``LIMIT`` inside it included)."""

    arg_types: ClassVar[dict[str, bool]] = {"expressions": True}
    is_var_len_args = True

    @classmethod
    def sql_name(cls) -> str:
        return "JSON_ARRAYAGG"


#: Aggregates of MariaDB that sqlglot parses as ``Anonymous``, by name.
_ANONYMOUS_AGGREGATES: dict[str, type[exp.Expression]] = {"JSON_ARRAYAGG": JsonArrayAgg}
_ANONYMOUS_AGGREGATE_HINT = re.compile(r"JSON_ARRAYAGG\s*\(", re.IGNORECASE)


def _mark_anonymous_aggregates(tree: exp.Expr) -> None:
    """Read as aggregates, in place: a ``JSON_ARRAYAGG`` taken for a plain function
    was sent to every shard as it stood and answered one row per shard."""
    for node in list(tree.find_all(exp.Anonymous)):
        kind = _ANONYMOUS_AGGREGATES.get(node.name.upper())
        if kind is not None:
            node.replace(kind(expressions=list(node.expressions)))


def mysql_syntax_error(sql: str, offset: int, reason: str = "") -> ParseError:
    """A 1064 error in MariaDB's words for a problem starting at ``offset`` (``reason``,
    when given, follows in parentheses: what the coordinator's parser saw)."""
    offset = max(0, min(offset, len(sql)))
    line = sql.count("\n", 0, offset) + 1
    why = f" ({reason})" if reason else ""
    return ParseError(syntax_error_message(sql[offset:], line) + why)


def _offset_of(sql: str, line: int, col: int) -> int:
    """Offset of (1-based line, 1-based column) in ``sql``."""
    pos = 0
    for _ in range(line - 1):
        nl = sql.find("\n", pos)
        if nl < 0:
            break
        pos = nl + 1
    return pos + max(col - 1, 0)


def translate(sql: str, error: Exception) -> ParseError:
    if isinstance(error, SqlglotParseError) and error.errors:
        first = error.errors[0]
        line = int(first.get("line") or 1)
        col = int(first.get("col") or 1)
        highlight = str(first.get("highlight") or "")
        end = _offset_of(sql, line, col)
        start = end - len(highlight) + 1 if highlight else end
        reason = str(first.get("description") or "").split("\n")[0]
        return mysql_syntax_error(sql, start, reason)
    if isinstance(error, TokenError):
        text = str(error)
        # "Error tokenizing '<context>'": point at the context's start in the text.
        context = text.partition("'")[2][:-1] if "'" in text else ""
        offset = sql.find(context[:20]) if context else -1
        return mysql_syntax_error(
            sql, offset if offset >= 0 else 0, "unterminated string or bad token"
        )
    return mysql_syntax_error(sql, 0, str(error).split("\n")[0])


def parse_one(sql: str) -> exp.Expr:
    """Parse exactly one statement (MySQL syntax)."""
    if not sql.strip().strip(";").strip():
        raise EmptyQuery("Query was empty")
    if "->" in sql:
        # sqlglot reads MySQL's JSON operators ``->``/``->>``; MariaDB has none (its
        # parser stops at the ``>``): answered, such a statement was not MariaDB's.
        arrow = json_arrow_offset(sql)
        if arrow is not None:
            raise mysql_syntax_error(sql, arrow + 1)
    try:
        statements = sqlglot.parse(sql, dialect=DIALECT)
    except (SqlglotParseError, TokenError) as error:
        raise translate(sql, error) from None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        # sqlglot occasionally fails with a plain Python error on odd input.
        raise mysql_syntax_error(sql, 0, f"{type(error).__name__}: {error}") from None
    except RecursionError:
        # MySQL's answer to a statement nested deeper than its parser's stack.
        raise ShardgateError(
            "Thread stack overrun: the statement is nested too deeply for the parser "
            "(at most about 600 levels of parentheses or function calls)",
            code=1436,
            sqlstate="HY000",
        ) from None
    statements = [s for s in statements if s is not None]
    if not statements:
        raise EmptyQuery("Query was empty")
    if len(statements) > 1:
        raise ParseError(
            "You have an error in your SQL syntax: one statement per call "
            "(multi-statements are split by the client or the server front end)"
        )
    first = statements[0]
    assert first is not None
    if _LAG_LEAD.search(sql):
        _refuse_lag_lead_default(sql, first)
    if _GROUP_DIRECTION.search(sql):
        _group_order(first)
    if _ANONYMOUS_AGGREGATE_HINT.search(sql):
        _mark_anonymous_aggregates(first)
    return statement_query(first)


#: ``ASC`` / ``DESC`` anywhere in the text: only then are GROUP BYs looked at.
_GROUP_DIRECTION = re.compile(r"\b(?:ASC|DESC)\b", re.IGNORECASE)


def _group_order(tree: exp.Expr) -> None:
    """``GROUP BY a DESC, b ASC`` as MariaDB answers it, in place: the statement's own
    SELECT without an ORDER BY sorts its groups so (``ORDER BY a DESC, b``, which is
    MariaDB's implicit sort of a GROUP BY with the directions written); with an ORDER BY,
    and in any other SELECT of the statement (a subquery, a derived table, a branch of
    a UNION), the directions change nothing. With ``WITH ROLLUP`` an ORDER BY is
    MariaDB's 1221, so that combination is refused."""
    for select in tree.find_all(exp.Select):
        group = select.args.get("group")
        if group is None:
            continue
        directions = [e.meta.get(GROUP_ORDER) for e in group.expressions]
        if all(d is None for d in directions):
            continue
        for e in group.expressions:
            e.meta.pop(GROUP_ORDER, None)
        if select is not tree or select.args.get("order") is not None:
            continue
        if group.args.get("rollup"):
            raise NotSupported(
                "GROUP BY with ASC or DESC and WITH ROLLUP on the sharding coordinator "
                "(write the order of the groups in an ORDER BY without ROLLUP)"
            )
        select.set(
            "order",
            exp.Order(
                expressions=[
                    exp.Ordered(this=e.copy(), desc=bool(d), nulls_first=not d)
                    for e, d in zip(group.expressions, directions, strict=True)
                ]
            ),
        )


#: ``LAG(`` / ``LEAD(`` in the text: only then is the tree searched (a regex scan of
#: the text costs far less than a walk of every statement's tree).
_LAG_LEAD = re.compile(r"\b(?:LAG|LEAD)\s*\(", re.IGNORECASE)


def _refuse_lag_lead_default(sql: str, tree: exp.Expr) -> None:
    """MariaDB's 1064 for ``LAG(x, n, default)`` / ``LEAD(…)``: its grammar has no
    third argument (MySQL 8's has), so the reference answers a syntax error. Without
    this the SQLite default answered the statement and a plan over several MariaDB
    shards refused it with 1235; both now answer as MariaDB does."""
    for node in tree.find_all(exp.Lag, exp.Lead):
        if node.args.get("default") is None:
            continue
        offsets = (_third_argument(sql, start) for start in _calls(sql))
        raise mysql_syntax_error(sql, next((o for o in offsets if o), 0))


def _calls(sql: str) -> Iterator[int]:
    """Where the arguments of each ``LAG(``/``LEAD(`` outside quotes start."""
    i = 0
    while i < len(sql):
        if sql[i] in "'\"`":
            i = _after_quoted(sql, i)
            continue
        match = _LAG_LEAD.match(sql, i)
        if match is not None and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            yield match.end()
            i = match.end()
            continue
        i += 1


def _after_quoted(sql: str, i: int) -> int:
    """The offset after the quoted string or name starting at ``i`` (a doubled or
    escaped quote ends it early: harmless for the error position it serves)."""
    end = sql.find(sql[i], i + 1)
    return len(sql) if end < 0 else end + 1


def _third_argument(sql: str, start: int) -> int:
    """The offset just after the second top-level comma of the call whose arguments
    start at ``start`` (where MariaDB's parser stops), or 0. Quotes are skipped."""
    depth = commas = 0
    i = start
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"`":
            i = _after_quoted(sql, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return 0
            depth -= 1
        elif ch == "," and depth == 0:
            commas += 1
            if commas == 2:
                return i + 1
        i += 1
    return 0


_QUERY_CLAUSES = ("order", "limit", "offset")


def statement_query(tree: exp.Expr) -> exp.Expr:
    """A parenthesised query statement, ``(SELECT …)`` or ``((SELECT …) ORDER BY x
    LIMIT 1)``, as the query itself: sqlglot reads it as a ``Subquery``, which every
    later step would take for a scalar subquery. The clauses of an outer level move onto
    the query inside when it has none of its own (MySQL applies them to its rows);
    both levels with ORDER BY/LIMIT is a derived table, left as it is (refused later)."""
    while isinstance(tree, exp.Subquery) and isinstance(tree.this, exp.Query):
        inner = tree.this
        if any(v is not None and k not in ("this", *_QUERY_CLAUSES) for k, v in tree.args.items()):
            break  # an alias, a WITH, …: not a plain parenthesised query
        outer = {k: v for k in _QUERY_CLAUSES if (v := tree.args.get(k)) is not None}
        if outer and any(inner.args.get(k) is not None for k in _QUERY_CLAUSES):
            break
        for key, value in outer.items():
            inner.set(key, value)
        inner.meta.update(tree.meta)
        tree = inner
    return tree


def placeholder_offset(node: exp.Expr) -> int | None:
    value: Any = node.meta.get(PLACEHOLDER_START) if node.meta else None
    return value if isinstance(value, int) else None
