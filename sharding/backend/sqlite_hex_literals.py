"""MySQL's ``0x..`` literals on SQLite shards: a number in numeric context (issue 15).

MySQL reads ``0x10`` as a binary string that becomes the number 16 wherever a number
is wanted: ``0x10 + 0`` is 16, ``id = 0x10`` finds id 16, ``id > 0xe9`` compares with
233 — while ``name = 0x62657461`` compares the string ``'beta'`` (and ``X'10'``, the
other spelling, is a string everywhere). sqlglot renders both spellings as SQLite's
blob ``x'10'``, which compares with no number: on the embedded default ``id = 0x10``
found nothing and ``0x10 + 0`` was 0 (the fidelity suite's hex/bit class, run on
SQLite shards).

Two steps, because which meaning applies depends on a column's type:

* the coordinator's translation (:func:`number_or_marked`, from
  :func:`sharding.backend.sqlite_mysql.translate_for_sqlite`) makes a ``0x..`` an
  integer literal where the context is numeric without looking at a column (an
  operand of arithmetic, compared with a number), and marks it ``sg_hexnum(x'..')``
  where it is compared with a column or a parameter (``=``, ``<>``, ``<``…, ``<=>``,
  ``IN``, ``BETWEEN``; the plan cache makes every literal a parameter);
* the shard (:func:`rewrite`, with the shard file's declared column types) makes a
  marked literal the integer against a numeric column or a number (a parameter's
  value), the string against a text column (its bytes as UTF-8), and leaves the blob
  otherwise (against a string: compared bytewise); ``sg_hexnum`` itself
  (registered) returns the blob, so an unmarked leftover means what it meant before.

Values of 2**63 and more stay blobs (SQLite's INTEGER ends there; MySQL's BIGINT
UNSIGNED does not). Written by hand: text edits specific to the statements this
coordinator renders; no library maps MySQL's hexadecimal literals onto SQLite.
"""

from __future__ import annotations

import re
import sqlite3

import sqlglot
from sqlglot import exp

from sharding.backend import sqlite_arithmetic as arith
from sharding.backend import sqlite_reparse
from sharding.backend.sqlite_compare import COMPARISONS
from sharding.backend.sqlite_text_cache import TextCache
from sharding.sql.template import PARAM_PREFIX

__all__ = [
    "MARK",
    "bit_literal",
    "hexnum",
    "mark_written",
    "number_or_marked",
    "numeric_literal",
    "rewrite",
]

#: The registered marker function's name.
MARK = "sg_hexnum"
_UPPER_MARK = MARK.upper()
_ARITHMETIC = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.IntDiv,
    exp.Mod,
    exp.Neg,
    exp.BitwiseAnd,
    exp.BitwiseOr,
    exp.BitwiseXor,
    exp.BitwiseLeftShift,
    exp.BitwiseRightShift,
    exp.BitwiseNot,
)
_NUMERIC_DECL = re.compile(
    r"\s*(?:(?:tiny|small|medium|big)?int(?:eger)?|decimal\w*|numeric|dec|fixed|double|float"
    r"|real|bool(?:ean)?)\b",
    re.IGNORECASE,
)
_TEXT_DECL = re.compile(
    r"\s*(?:national\s+)?(?:var)?char|\s*n?(?:tiny|medium|long)?text|\s*nvarchar|\s*nchar",
    re.IGNORECASE,
)


def hexnum(value: bytes | None) -> bytes | None:
    """``sg_hexnum(x)``: the blob, unchanged (a mark :func:`rewrite` did not resolve)."""
    return value


def _bare(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _numeric(node: exp.Expr) -> bool:
    node = _bare(node)
    if isinstance(node, exp.Literal):
        return not node.is_string
    return isinstance(node, _ARITHMETIC)


def numeric_literal(node: exp.Expr) -> bool:
    """Whether ``node`` is a ``0x..`` or ``b'..'`` literal below 2**63 (a number where
    one is wanted)."""
    from sharding.sql.shard_dialect import hex_is_number_form

    node = _bare(node)
    if isinstance(node, exp.BitString):
        return int(str(node.this) or "0", 2) < 1 << 63
    if not isinstance(node, exp.HexString) or not node.this:
        return False
    return hex_is_number_form(node) and int(str(node.this), 16) < 1 << 63


def mark_written(item: exp.Expr) -> exp.Expr:
    """A VALUES row's lone value, translated (``sqlite_passthrough`` translates each
    alone), that was a :func:`numeric_literal`: marked, for the shard to make it what
    the written column's type wants (:func:`rewrite`); anything else as it is."""
    if isinstance(item, exp.HexString):
        return exp.Anonymous(this=MARK, expressions=[item.copy()])
    return item


def bit_literal(node: exp.BitString) -> exp.Expr:
    """What a ``b'..'`` / ``0b..`` literal becomes for SQLite: MySQL's binary string of
    its bits (right-aligned in whole bytes: ``b'1000001'`` is ``'A'``, ``b''`` the empty
    string) that is a number where one is wanted — the ``0x..`` rules
    (:func:`number_or_marked`), except that one compared with a parameter stays the
    number (sqlglot's rendering before: ``b'1' = ?``)."""
    bits = str(node.this or "")
    value = int(bits or "0", 2)
    blob = exp.HexString(this=value.to_bytes((len(bits) + 7) // 8, "big").hex())
    node.replace(blob)
    new = number_or_marked(blob, value)
    if new is None:
        return blob
    blob.replace(new)
    return new


def _parameter(node: exp.Expr) -> bool:
    node = _bare(node)
    return isinstance(node, exp.Placeholder) or (
        isinstance(node, exp.Var) and str(node.this).startswith(PARAM_PREFIX)
    )


def number_or_marked(node: exp.HexString, value: int | None) -> exp.Expr | None:
    """What a ``0x..`` literal of ``value`` becomes for SQLite (module doc): an integer
    literal, a marked blob, or None (left as the blob). ``value`` None: an ``X'..'``
    literal, a string everywhere — marked only where a text column is compared with it
    (``sg_hexnum(x'..', 0)``: then the string under the column's collation, as MySQL's
    coercion rules make it)."""
    if value is None:
        parent = node.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        compared = parent.expression if isinstance(parent, COMPARISONS) else None
        if isinstance(parent, COMPARISONS) and compared is node:
            compared = parent.this
        if isinstance(parent, exp.In | exp.Between):
            compared = parent.this
        if compared is not None and isinstance(_bare(compared), exp.Column):
            return exp.Anonymous(this=MARK, expressions=[node.copy(), exp.Literal.number(0)])
        return None
    if value >= 1 << 63:
        return None
    child: exp.Expr = node
    parent = node.parent
    while isinstance(parent, exp.Paren):
        child, parent = parent, parent.parent
    if isinstance(parent, _ARITHMETIC):
        return exp.Literal.number(value)
    others: list[exp.Expr] = []
    if isinstance(parent, COMPARISONS):
        others = [parent.expression if child is parent.this else parent.this]
    elif isinstance(parent, exp.In | exp.Between) and child is not parent.this:
        others = [parent.this]
    elif isinstance(parent, exp.Between):
        others = [parent.args["low"], parent.args["high"]]
    elif isinstance(parent, exp.In) and not parent.args.get("query"):
        others = list(parent.expressions)
    if not others:
        return None
    if all(_numeric(o) for o in others):
        return exp.Literal.number(value)
    if all(_parameter(o) or _numeric(o) or isinstance(_bare(o), exp.Column) for o in others):
        # A parameter (also a literal the plan cache made one) is a number or a string
        # only at run time: the shard decides by the literal it becomes (:func:`_resolve`).
        return exp.Anonymous(this=MARK, expressions=[node.copy()])
    return None


_cache = TextCache()


def forget() -> None:
    """Drop the rewritten statements (a table's definition may have changed)."""
    _cache.clear()


def rewrite(raw: sqlite3.Connection, sql: str) -> str:
    """``sql`` with each ``sg_hexnum(x'..')`` resolved by the compared column's declared
    type (module doc); unchanged (no parse) when it has none."""
    if MARK not in sql and _UPPER_MARK not in sql:  # sqlglot writes calls upper-case
        return sql
    return _cache.get_or_make(sql, lambda: _resolve(raw, sql))


def written(tree: exp.Expr, columns: arith._Columns) -> dict[int, exp.Expr]:
    """id of each value an INSERT's VALUES rows write → the column it is written to."""
    from sharding.backend.sqlite_binary_store import _assignments

    return {id(value): target for target, value in _assignments(tree, columns)}


def _operand_kind(node: exp.Expr | None, columns: arith._Columns) -> str | None:
    """``number`` or ``string``: a literal's (a signed number too) or a column's by its
    declared type; None for anything else."""
    node = _bare(node) if node is not None else None
    if isinstance(node, exp.Neg):
        node = _bare(node.this)
    if isinstance(node, exp.Column):
        decl = columns.decl(node) or ""
        if _NUMERIC_DECL.match(decl):
            return "number"
        return "string" if _TEXT_DECL.match(decl) else None
    if not isinstance(node, exp.Literal):
        return None
    return "string" if node.is_string else "number"


def _resolve(raw: sqlite3.Connection, sql: str) -> str:
    try:
        tree = sqlite_reparse.parse(sql)
    except sqlglot.errors.ParseError:
        return sql
    columns = arith._Columns(tree, arith.declared_columns(raw, sql))
    changed = False
    for call in list(tree.find_all(exp.Anonymous)):
        if call.name.lower() != MARK or len(call.expressions) not in (1, 2):
            continue
        number_form = len(call.expressions) == 1
        blob = call.expressions[0]
        if not isinstance(blob, exp.HexString):
            continue
        child: exp.Expr = call
        parent = call.parent
        while isinstance(parent, exp.Paren):
            child, parent = parent, parent.parent
        if isinstance(parent, COMPARISONS):
            other = parent.expression if child is parent.this else parent.this
        elif isinstance(parent, exp.In | exp.Between) and child is parent.this and number_form:
            # ``0x41 IN (…)`` / ``BETWEEN … AND …`` of parameters' values: numbers make
            # it its number, strings leave the binary string; a mix is left as it is.
            bounds = [parent.args.get("low"), parent.args.get("high")]
            listed = parent.expressions if isinstance(parent, exp.In) else bounds
            kinds = {_operand_kind(o, columns) for o in listed}
            if kinds == {"number"}:
                call.replace(exp.Literal.number(int(str(blob.this) or "0", 16)))
                changed = True
            elif kinds == {"string"}:
                try:
                    text = bytes.fromhex(str(blob.this)).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    continue
                call.replace(exp.Literal.string(text))  # compared bytewise, as MySQL
                changed = True
            continue
        elif isinstance(parent, exp.In | exp.Between):
            other = parent.this
        elif isinstance(parent, exp.Tuple) and number_form:
            found = written(tree, columns).get(id(child))
            if found is None:
                continue
            other = found
        else:
            continue
        other = _bare(other)
        if isinstance(other, exp.Neg):
            other = _bare(other.this)
        if isinstance(other, exp.Literal) and number_form:
            # A parameter's value (module doc): a number makes the literal its number,
            # a string leaves the binary string (compared bytewise, as MySQL's).
            value = int(str(blob.this) or "0", 16)
            call.replace(blob if other.is_string else exp.Literal.number(value))
            changed = True
            continue
        if not isinstance(other, exp.Column):
            continue
        decl = columns.decl(other) or ""
        data = bytes.fromhex(
            str(blob.this).rjust(len(str(blob.this)) + len(str(blob.this)) % 2, "0")
        )
        if _NUMERIC_DECL.match(decl):
            # X'..' against a number: MySQL converts the string (a 1235 on the shard key,
            # docs/refusals.md); left the blob here, as before
            call.replace(exp.Literal.number(int.from_bytes(data, "big")) if number_form else blob)
            changed = True
        elif _TEXT_DECL.match(decl):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            call.replace(exp.Literal.string(text))
            changed = True
    return tree.sql(dialect="sqlite") if changed else sql
