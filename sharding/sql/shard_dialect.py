"""The SQL dialect shard statements are rendered in: MySQL text that MariaDB reads with
the meaning the client's text had.

sqlglot's MySQL generator targets MySQL 8 and normalises some spellings into forms that
mean something else on MariaDB (measured on MariaDB 10.11, issue 11):

* ``a REGEXP b`` / ``a RLIKE b`` / ``a NOT REGEXP b`` parse to ``RegexpLike`` and come
  out as ``REGEXP_LIKE(a, b)``, a function MariaDB does not have (error 1305). They are
  rendered back as the operator, parenthesised so the surrounding precedence cannot
  change (``NOT (a REGEXP b)``). A ``REGEXP_LIKE(...)`` the client wrote as a function
  call stays a function call: MariaDB must give the client the same 1305 it would give
  without shardgate, not an answer.
* ``LOCK IN SHARE MODE`` comes out as MySQL 8's ``FOR SHARE``, a syntax error on
  MariaDB: rendered as written.
* ``LOG10(x)`` parses to ``LOG(10, x)``, which MariaDB computes differently
  (``ln(x) / ln(10)``, not ``log10``: :func:`log_function_name`): rendered as written.
* ``0x10`` and ``X'10'`` both parse to ``HexString`` and come out as ``x'10'``. On
  MariaDB they differ: ``0x10`` is the number 16 in numeric context (``id = 0x10``
  finds id 16), ``X'10'`` is always a binary string (``id = X'10'`` compares with 0).
  The form the client wrote is kept. The parser does not record it, but the token's
  length does: ``0x`` + digits is one character shorter than ``X'`` + digits + ``'``.

Only the MySQL dialect is changed; other backends render with sqlglot's own dialects.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.mysql import MySQL
from sqlglot.generators.mysql import MySQLGenerator


def hex_is_number_form(node: exp.HexString) -> bool:
    """Whether ``node`` was written ``0x..`` (not ``X'..'``), from its token span."""
    meta = node.meta if node.meta else {}
    start, end = meta.get("start"), meta.get("end")
    if not isinstance(start, int) or not isinstance(end, int):
        return False
    return end - start + 1 == len(str(node.this)) + 2


def log_function_name(node: exp.Log) -> str | None:
    """``LOG10``/``LOG2`` when ``node`` was written so, None for ``LOG(b, x)``.

    sqlglot parses ``LOG10(x)`` as ``LOG(10, x)``, but MariaDB's ``LOG10`` is C's
    ``log10`` and its ``LOG(10, x)`` is ``ln(x) / ln(10)``: ``LOG10(1000)`` is 3,
    ``LOG(10, 1000)`` 2.9999999999999996. The text tells them apart: the base of
    ``LOG10`` is a literal sqlglot made (no offset in the text) and the function's
    name token is ``LOG10``/``LOG2`` long (the parser's offsets of it)."""
    base, x = node.this, node.expression
    if x is None or not isinstance(base, exp.Literal) or base.is_string:
        return None
    if "start" in base.meta:
        return None  # the base is written in the text: LOG(10, x)
    start, end = node.meta.get("start"), node.meta.get("end")
    if start is None or end is None:
        return None
    length = int(end) - int(start) + 1
    if base.name == "10" and length == len("LOG10"):
        return "LOG10"
    if base.name == "2" and length == len("LOG2"):
        return "LOG2"
    return None


def _regexp_sql(self: MySQLGenerator, node: exp.RegexpLike) -> str:
    written_as_call = bool(node.meta) and "start" in node.meta
    if node.args.get("flag") is not None or written_as_call:
        return str(self.function_fallback_sql(node))
    return f"({self.sql(node, 'this')} REGEXP {self.sql(node, 'expression')})"


class _MariaDBGenerator(MySQLGenerator):
    """MySQL generator with MariaDB's spellings of REGEXP and hex literals."""

    TRANSFORMS: ClassVar[dict[type[exp.Expr], Any]] = {
        **MySQLGenerator.TRANSFORMS,
        exp.RegexpLike: _regexp_sql,
    }

    def log_sql(self, expression: exp.Log) -> str:
        name = log_function_name(expression)
        if name is not None:
            return f"{name}({self.sql(expression, 'expression')})"
        return str(super().log_sql(expression))

    def lock_sql(self, expression: exp.Lock) -> str:
        # MariaDB has no ``FOR SHARE`` (sqlglot's spelling of ``LOCK IN SHARE MODE``).
        text = "FOR UPDATE" if expression.args.get("update") else "LOCK IN SHARE MODE"
        wait = expression.args.get("wait")
        if wait is True:
            text += " NOWAIT"
        elif wait is False:
            text += " SKIP LOCKED"
        elif wait is not None:
            text += f" WAIT {self.sql(wait)}"
        return text

    def hexstring_sql(
        self, expression: exp.HexString, binary_function_repr: str | None = None
    ) -> str:
        if hex_is_number_form(expression) and expression.this:
            return f"0x{expression.this}"
        return f"X'{expression.this}'"


class MariaDBShard(MySQL):
    """The MySQL dialect rendering with :class:`_MariaDBGenerator`."""

    Generator = _MariaDBGenerator


_MARIADB = MariaDBShard()


def shard_dialect(dialect: str) -> str | Dialect:
    """The dialect to render shard statements for backend ``dialect`` with."""
    return _MARIADB if dialect == "mysql" else dialect
