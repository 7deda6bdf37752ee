"""MySQL's comparison of an operand whose type the shard statement does not tell, on
SQLite shards (issue 15).

MySQL compares two strings as strings under their collation, two numbers as numbers,
and a string with a number as numbers: the string's numeric prefix (``'5x'`` is 5,
``'abc'`` 0). SQLite orders every number before every TEXT unless a column's affinity
converts the other operand, and an expression that is no column has no collation
(BINARY, no PAD SPACE). :mod:`sharding.backend.sqlite_arithmetic` rewrites the
comparisons whose operands' types the shard's schema tells (a text column with a
number, a numeric column or a number-valued function with a string that is no clean
number). What is left is a comparison with an operand whose type is only known when
the row is read: a subquery (``n = (SELECT '5x')``), ``COALESCE``/``IF``/``CASE``, a
string function (``UPPER(s) = 'ABC '``, ``CONCAT(n, '') = '5x'``), a function the
shard does not type. :func:`comparisons` finds them in the parsed shard statement and
they become calls of registered functions deciding by the Python types of the values
SQLite passes (which are MySQL's result types for these expressions: a string
function gives ``str``, a subquery of a number column an ``int``/``float``):

* ``a <op> b`` → ``sg_compare('<op>', 'collation', filtering, a, b)`` (``=``, ``<>``,
  ``<``, ``<=``, ``>``, ``>=``, ``<=>`` and ``IS NOT``, SQLite's spelling of NOT ``<=>``);
* ``x [NOT] IN (a, b, …)`` → ``[NOT] sg_in('collation', filtering, consts, x, a, b, …)``;
* ``x [NOT] BETWEEN a AND b`` → ``[NOT] sg_between('collation', filtering, x, a, b)``.

Invariants: NULL compares to NULL (``<=>`` excepted) as in MySQL; two strings compare
by the collation MySQL derives statically — a text column's (also through a function
that keeps it: ``UPPER``, ``CONCAT``, ``COALESCE``, …) over a literal's (the
connection's, ``utf8mb4_general_ci``); two different column collations are a 1235
(MySQL's 1267 or a coercion the shard does not model). ``IN`` with constant elements
compares everything as numbers when strings and numbers meet (MariaDB aggregates one
comparison type then), else pair by pair; ``BETWEEN`` aggregates its three operands.
``COALESCE``/``IF``/``CASE``/``GREATEST`` mixing string and number results is a 1235:
MySQL's result is a string there, SQLite's value keeps the number's type.

A string that is no clean number compared as a number follows the module's policy
of :func:`sharding.backend.sqlite_arithmetic.string_number`: its prefix in a read and
a ``DELETE``; a 1235 in an ``UPDATE`` and in an ``INSERT … SELECT``'s condition, where
MySQL's strict mode errs or warns by the form.

Warnings (a read's, :func:`sharding.backend.sqlite_arithmetic.warn`): a string
converted to a number warns 1292 as MySQL (``Truncated incorrect DECIMAL value``
against an integer, ``… DOUBLE value`` against another number) where MySQL converts it
per row — an operand naming a column outside a subquery (``sg_compare``'s
``filtering`` bits 1 and 2 mark them; ``IN``'s and ``BETWEEN``'s first operand) —
once per comparison type in a row (``IN`` stops at the first equal element);
constants (literals, subqueries, a constant ``IN`` list, ``BETWEEN`` bounds) MySQL converts
once per statement, and stay silent here (each shard would warn once) — except a
comparison of two constants without a subquery (``X'41' = 65``: bit 3), whose
deterministic call SQLite evaluates once per statement: it warns as MySQL's.

A side that is temporal (``DATE(dt)``, ``NOW()``, a DATE column: MySQL compares dates,
:mod:`sharding.backend.sqlite_temporal`) or of a type the shard does not know (an ENUM column, a row value) leaves the
comparison as SQLite makes it; so does one whose both sides are typed (columns,
literals, arithmetic, number-valued functions): those keep their SQL (and indexes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from sqlglot import exp

from sharding.backend import sqlite_arithmetic as arith
from sharding.errors import NotSupported

#: Collation name → comparator (``-1``/``0``/``1``), filled by :mod:`sqlite_mysql`
#: with the comparators its registered SQLite collations use.
COMPARATORS: dict[str, Callable[[str, str], int]] = {}
#: The collation of a string literal (the connection's) and of a column declaring none.
DEFAULT_COLLATION = "utf8mb4_general_ci"


# ---------------------------------------------------------------------- run time
#: ``sg_compare``'s ``filtering`` argument: bit 0 whether the comparison filters rows
#: (not a select item); bits 1 and 2 whether its left / right operand is evaluated per
#: row (names a column, no subquery) and may be a string: MySQL converts such a string
#: to a number per row, with its 1292, a constant once per statement (no warning here).
_FILTERING, _WARN_LEFT, _WARN_RIGHT = 1, 2, 4
#: Bit 3: both operands are constants (no column, no subquery: ``X'41' = 65``). SQLite
#: evaluates the deterministic call once per statement, as MySQL converts a constant:
#: a string converted to a number warns then (1292).
_CONSTANT = 8


def _strict(filtering: Any) -> bool:
    state = arith._strict
    return bool(
        getattr(state, "on", False)
        or (int(filtering) & _FILTERING and getattr(state, "compare", False))
    )


def _kind(other: Any) -> str:
    """The type MySQL converts a string to when comparing it with ``other`` (as its
    1292 names it, measured on MariaDB 10.11): DECIMAL against an integer, DOUBLE
    against any other number (a DECIMAL or DOUBLE value) or a string."""
    return "DECIMAL" if isinstance(other, int) else "DOUBLE"


def _number(value: Any, filtering: Any, kind: str | None = None) -> Any:
    """MySQL's number of a string compared with a number: its numeric prefix (0 for
    none); a 1235 for one that is no clean number in a strict statement, or whose
    prefix a REAL does not hold exactly. ``kind``: warn as MySQL converting the string
    to that type does (1292, :func:`sharding.backend.sqlite_arithmetic.truncation`)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return value
    if kind is not None:
        arith.truncation(value, kind)
    if _strict(filtering) and arith._DOUBLE_TEXT.match(value) is None:
        raise NotSupported(
            f"a string that is no clean number ('{value}') compared with a number in a "
            "write statement on the SQLite default (MySQL's strict mode errs or warns by "
            "the form); compare numbers with numbers"
        )
    m = arith._NUMBER_PREFIX.match(value)
    if m is None:
        return 0
    text = m.group().strip()
    number = Decimal(text)
    if number == number.to_integral_value() and abs(number) < 2**63:
        return int(number)
    if abs(number) >= 2**52 and Decimal(float(text)) != number:
        raise NotSupported(
            f"the string '{value}' compared with a number on the SQLite default (MySQL "
            "compares its exact DECIMAL, a REAL loses its last digits)"
        )
    return float(text)


def _is_text(value: Any) -> bool:
    return isinstance(value, str | bytes)


def _order(
    a: Any,
    b: Any,
    collation: Any,
    numeric: bool,
    filtering: Any,
    warn_a: bool = False,
    warn_b: bool = False,
) -> int:
    """-1, 0 or 1: ``a`` against ``b`` (neither NULL) as MySQL compares them; a string
    converted to a number warns as MySQL's does where ``warn_a``/``warn_b``."""
    if numeric or not (_is_text(a) and _is_text(b)):
        if _is_text(a) or _is_text(b) or numeric:
            a, b = (
                _number(a, filtering, _kind(b) if warn_a else None),
                _number(b, filtering, _kind(a) if warn_b else None),
            )
        return 0 if a == b else (-1 if a < b else 1)
    if isinstance(a, bytes) or isinstance(b, bytes):
        x = a if isinstance(a, bytes) else a.encode()
        y = b if isinstance(b, bytes) else b.encode()
        return 0 if x == y else (-1 if x < y else 1)
    comparator = COMPARATORS.get(str(collation))
    if comparator is None:
        raise NotSupported(f"collation '{collation}' on the embedded SQLite default")
    return comparator(a, b)


_TESTS: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0,
    "<>": lambda c: c != 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


def compare(op: Any, collation: Any, filtering: Any, a: Any, b: Any) -> int | None:
    """``sg_compare(op, collation, filtering, a, b)``: ``a <op> b`` as MySQL compares
    (module doc); NULL with a NULL operand, except ``<=>`` (``IS NOT``: its negation)."""
    bits = int(filtering)
    if bits & _CONSTANT:
        bits |= _WARN_LEFT | _WARN_RIGHT
    warn_a, warn_b = bool(bits & _WARN_LEFT), bool(bits & _WARN_RIGHT)
    if op == "<=>" or op == "IS NOT":
        if a is None or b is None:
            same = a is None and b is None
        else:
            same = _order(a, b, collation, False, filtering, warn_a, warn_b) == 0
        return int(same if op == "<=>" else not same)
    if a is None or b is None:
        return None
    return int(_TESTS[str(op)](_order(a, b, collation, False, filtering, warn_a, warn_b)))


def in_list(collation: Any, filtering: Any, consts: Any, x: Any, *items: Any) -> int | None:
    """``sg_in(collation, filtering, consts, x, a, b, …)``: ``x IN (a, b, …)`` as MySQL:
    1 for an equal element, else NULL if ``x`` or an element is NULL, else 0. With
    constant elements (``consts``) strings and numbers met anywhere compare as numbers."""
    if x is None:
        return None
    numeric = False
    if consts:
        values = [v for v in (x, *items) if v is not None]
        numeric = any(_is_text(v) for v in values) and not all(_is_text(v) for v in values)
    unknown = False
    # MySQL converts ``x`` once per comparison type (DECIMAL against integers, DOUBLE
    # against other numbers), in the list's order until an element is equal; constant
    # elements once per statement (no warning here), others per row.
    warned: set[str] = set()
    for item in items:
        if item is None:
            unknown = True
            continue
        kind = _kind(item)
        fresh = kind not in warned
        if fresh and _is_text(x) and (numeric or not _is_text(item)):
            warned.add(kind)
        if _order(x, item, collation, numeric, filtering, fresh, not consts) == 0:
            return 1
    return None if unknown else 0


def between(collation: Any, filtering: Any, x: Any, low: Any, high: Any) -> int | None:
    """``sg_between(collation, filtering, x, low, high)``: ``x BETWEEN low AND high``
    with MySQL's one comparison type for the three and its NULL logic."""
    values = [v for v in (x, low, high) if v is not None]
    numeric = any(_is_text(v) for v in values) and not all(_is_text(v) for v in values)
    if x is None:
        return None
    if _is_text(x) and any(not _is_text(v) for v in (low, high) if v is not None):
        # MySQL compares the three as one type: ``x`` converted once per row (1292),
        # DOUBLE if a bound is no integer; the bounds are constants (no warning here).
        bounds = [v for v in (low, high) if v is not None]
        x = _number(
            x, filtering, "DECIMAL" if all(isinstance(v, int) for v in bounds) else "DOUBLE"
        )
    above = None if low is None else _order(x, low, collation, numeric, filtering) >= 0
    below = None if high is None else _order(x, high, collation, numeric, filtering) <= 0
    if above is False or below is False:
        return 0
    if above is None or below is None:
        return None
    return 1


# ---------------------------------------------------------------------- the statement
#: Functions (sqlglot class names, lower case, or called names) of a date or time:
#: MySQL compares them as temporal values, which this module does not model.
_TEMPORAL = frozenset(
    {
        "date",
        "dateadd",
        "datesub",
        "date_add",
        "date_sub",
        "lastday",
        "last_day",
        "from_unixtime",
        "time",
        "datetime",
        "timestamp",
        "now",
        "curdate",
        "curtime",
        "sysdate",
        "strtodate",
        "str_to_date",
        "strtotime",
        "currenttimestamp",
        "currentdate",
        "currenttime",
        "makedate",
        "maketime",
        "sec_to_time",
        "addtime",
        "subtime",
        "timediff",
        "convert_tz",
        "utc_timestamp",
        "utc_date",
        "utc_time",
        "timestampadd",
    }
)
#: String functions whose result keeps its string arguments' collation in MySQL.
_KEEPS_COLLATION = frozenset(
    {
        "upper",
        "lower",
        "ucase",
        "lcase",
        "concat",
        "concatws",
        "concat_ws",
        "trim",
        "ltrim",
        "rtrim",
        "substring",
        "substr",
        "mid",
        "sg_left",
        "sg_right",
        "left",
        "right",
        "replace",
        "reverse",
        "repeat",
        "lpad",
        "rpad",
        "insert",
        "elt",
        "coalesce",
        "ifnull",
        "if",
        "case",
        "nullif",
        "greatest",
        "least",
        "min",
        "max",
        "paren",
        "subquery",
    }
)
#: Functions whose result is one of their arguments: a string and a number among them
#: make MySQL's result a string, where SQLite's value keeps its own type.
_CHOOSES = (exp.Coalesce, exp.If, exp.Case, exp.Nullif, exp.Greatest, exp.Least)

_COLLATE = re.compile(r"\bCOLLATE\s+\"?(\w+)\"?", re.IGNORECASE)

_BINARY: dict[type[exp.Expr], str] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.NullSafeEQ: "<=>",
    exp.NullSafeNEQ: "IS NOT",
}
#: sqlglot's classes of a comparison of two operands (``=``, ``<>``, ``<``, …, ``<=>``).
COMPARISONS: tuple[type[exp.Expr], ...] = tuple(_BINARY)
#: What may stand between two rewritten operands (their text is replaced by a comma).
_GAPS = {
    "binary": re.compile(r"\s*(?:=|==|<>|!=|<|<=|>|>=|IS|IS\s+NOT)\s*\Z", re.IGNORECASE),
    "in": re.compile(r"\s*(NOT\s+)?IN\s*\(\s*\Z", re.IGNORECASE),
    "comma": re.compile(r"\s*,\s*\Z"),
    "between": re.compile(r"\s*(NOT\s+)?BETWEEN\s*\Z", re.IGNORECASE),
    "and": re.compile(r"\s*AND\s*\Z", re.IGNORECASE),
}


def _name(node: exp.Expr) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else type(node).__name__.lower()


def _bare(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _temporal(node: exp.Expr, cols: arith._Columns) -> bool:
    """A date or time anywhere in ``node``: a temporal function, cast or column."""
    for sub in node.walk():
        if _name(sub) in _TEMPORAL:
            return True
        if isinstance(sub, exp.Cast):
            to = sub.args.get("to")
            if isinstance(to, exp.DataType) and to.is_type(*exp.DataType.TEMPORAL_TYPES):
                return True
        if isinstance(sub, exp.Column):
            decl = cols.decl(sub)
            if decl is not None and arith._TEMPORAL_DECL.match(decl):
                return True
    return False


def _side(node: exp.Expr, cols: arith._Columns) -> str:
    """``"typed"`` (SQLite already compares it as MySQL does, or the other rewrites
    do), ``"runtime"`` (its type is its value's), ``"skip"`` (NULL, temporal, a
    column of another type, a row value: left as it was)."""
    bare = _bare(node)
    if isinstance(bare, exp.Null | exp.Tuple | exp.Collate | exp.Star):
        return "skip"
    if isinstance(bare, exp.Literal | exp.Boolean):
        return "typed"
    if isinstance(bare, exp.Column):
        decl = cols.decl(bare)
        if decl is not None and (arith._TEXT_DECL.match(decl) or arith._NUMBER_DECL.match(decl)):
            return "typed"
        return "skip"
    if arith._number_kind(bare, cols) is not None or isinstance(
        bare, exp.Predicate | exp.Connector | exp.Not
    ):
        return "typed"  # ``YEAR(d)``, ``LENGTH(s)``: a number of a temporal value too
    if _temporal(bare, cols):
        return "skip"
    if isinstance(bare, exp.Placeholder | exp.Parameter):
        return "skip"
    return "runtime"


def _collations(node: exp.Expr, cols: arith._Columns, kept: bool, out: set[str]) -> None:
    """The collations of the text columns whose strings ``node``'s string keeps
    (``kept``: every function above keeps its arguments' collation); a text column of
    another collation than the connection's under a function that may not: 1235."""
    if isinstance(node, exp.Column):
        decl = cols.decl(node)
        if decl is None or not arith._TEXT_DECL.match(decl):
            return
        m = _COLLATE.search(decl)
        name = m.group(1).lower() if m else DEFAULT_COLLATION
        if kept:
            out.add(name)
        elif name != DEFAULT_COLLATION:
            raise NotSupported(
                f"a comparison of a function of the column {node.name} (collation {name}) "
                "on the SQLite default: which collation MySQL gives its result is not "
                "known to the shard; compare the column itself"
            )
        return
    if isinstance(node, exp.Subquery):
        select = node.this
        if isinstance(select, exp.Select) and len(select.expressions) == 1:
            _collations(select.expressions[0], cols, kept, out)
        return
    if isinstance(node, exp.Case):
        branches = [i.args.get("true") for i in node.args.get("ifs") or []]
        branches.append(node.args.get("default"))
        for b in branches:
            if b is not None:
                _collations(b, cols, kept, out)
        return
    if isinstance(node, exp.If):
        for b in (node.args.get("true"), node.args.get("false")):
            if b is not None:
                _collations(b, cols, kept, out)
        return
    keeps = kept and _name(node) in _KEEPS_COLLATION
    for child in node.iter_expressions():
        _collations(child, cols, keeps, out)


def _value_types(node: exp.Expr, cols: arith._Columns, out: set[str]) -> None:
    """``"string"``/``"number"`` for the values ``node`` may give that the statement
    tells (what it does not, adds nothing)."""
    node = _bare(node)
    if isinstance(node, exp.Literal):
        out.add("string" if node.is_string else "number")
    elif isinstance(node, exp.Column):
        decl = cols.decl(node)
        if decl is not None and arith._TEXT_DECL.match(decl):
            out.add("string")
        elif decl is not None and arith._NUMBER_DECL.match(decl):
            out.add("number")
    elif isinstance(node, exp.Subquery):
        select = node.this
        if isinstance(select, exp.Select) and len(select.expressions) == 1:
            _value_types(select.expressions[0], cols, out)
    elif isinstance(node, _CHOOSES):
        for branch in _branches(node):
            _value_types(branch, cols, out)
    elif arith._number_kind(node, cols) is not None:
        out.add("number")
    elif _name(node) in _KEEPS_COLLATION or isinstance(node, exp.Concat):
        out.add("string")


def _branches(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Case):
        out = [i.args["true"] for i in node.args.get("ifs") or [] if i.args.get("true")]
        default = node.args.get("default")
        return out + ([default] if default is not None else [])
    if isinstance(node, exp.If):
        return [b for b in (node.args.get("true"), node.args.get("false")) if b is not None]
    if isinstance(node, exp.Nullif):
        return [node.this]
    return [node.this, *node.expressions]


def _check_chosen(node: exp.Expr, cols: arith._Columns) -> None:
    """1235 for a ``COALESCE``/``IF``/``CASE``/``GREATEST`` (or one a subquery selects)
    whose results mix strings and numbers: MySQL's result is a string then."""
    for sub in node.walk():
        if isinstance(sub, _CHOOSES):
            kinds: set[str] = set()
            for branch in _branches(sub):
                _value_types(branch, cols, kinds)
            if len(kinds) > 1:
                raise NotSupported(
                    f"{_name(sub).upper()} of strings and numbers compared on the SQLite "
                    "default (MySQL's result is a string, the shard's keeps the number); "
                    "CAST the numbers to CHAR or compare each"
                )


def compared_operands(
    node: exp.Expr, assignments: set[int], binary: tuple[type[exp.Expr], ...] = COMPARISONS
) -> list[exp.Expr] | None:
    """The operands of ``node`` if it is a comparison: one of the ``binary`` classes
    (not an assignment, whose id is in ``assignments``), ``x IN (list)`` or ``x BETWEEN
    a AND b``; None for another node."""
    if isinstance(node, binary) and id(node) not in assignments:
        return [node.this, node.expression]
    if isinstance(node, exp.In) and not node.args.get("query") and node.expressions:
        return [node.this, *node.expressions]
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    return None


#: One comparison to rewrite: (the node, its operands, the call's name, its leading
#: arguments, the kind of each gap between operands, whether it is negated).
Found = tuple[exp.Expr, list[exp.Expr], str, str]


def comparisons(tree: exp.Expr, cols: arith._Columns) -> Iterator[Found]:
    """The comparisons of ``tree`` to decide at run time (module doc), with their
    operands, the registered call and its leading arguments."""
    assignments = arith._assignment_ids(tree)
    for node in tree.walk(bfs=False):
        operands = compared_operands(node, assignments)
        if operands is None:
            continue
        sides = [_side(o, cols) for o in operands]
        if "runtime" not in sides or "skip" in sides:
            continue
        for operand in operands:
            _check_chosen(operand, cols)
        found: set[str] = set()
        for operand in operands:
            _collations(_bare(operand), cols, True, found)
        if len(found) > 1:
            raise NotSupported(
                f"a comparison of strings of the collations {', '.join(sorted(found))} on "
                "the SQLite default (MySQL's coercion of two column collations); COLLATE "
                "one side"
            )
        collation = next(iter(found), DEFAULT_COLLATION)
        filtering = 0 if arith._in_select_list(node) else 1
        if isinstance(node, exp.In):
            consts = int(all(isinstance(_bare(e), exp.Literal | exp.Null) for e in operands[1:]))
            yield node, operands, "sg_in", f"'{collation}', {filtering}, {consts}"
        elif isinstance(node, exp.Between):
            yield node, operands, "sg_between", f"'{collation}', {filtering}"
        else:
            op = _BINARY[type(node)]
            if _per_row_string(operands[0], cols):
                filtering |= _WARN_LEFT
            if _per_row_string(operands[1], cols):
                filtering |= _WARN_RIGHT
            if not any(o.find(exp.Column, exp.Subquery) for o in operands):
                filtering |= _CONSTANT
            yield node, operands, "sg_compare", f"'{op}', '{collation}', {filtering}"


def _per_row_string(node: exp.Expr, cols: arith._Columns) -> bool:
    """Whether ``node`` is evaluated per row (names a column outside any subquery) and
    may give a string: MySQL converts it per row then (a 1292 for each string that is
    no clean number), a constant (a literal, a subquery) once per statement."""
    bare = _bare(node)
    if isinstance(bare, exp.Subquery) or arith._number_kind(bare, cols) is not None:
        return False
    if isinstance(bare, exp.Column):
        decl = cols.decl(bare)
        return decl is not None and arith._TEXT_DECL.match(decl) is not None
    subqueries = {id(q) for q in bare.find_all(exp.Subquery)}
    for column in bare.find_all(exp.Column):
        parent = column.parent
        while parent is not None and id(parent) not in subqueries and parent is not bare:
            parent = parent.parent
        if parent is None or id(parent) not in subqueries:
            return True
    return False


def edits(
    tree: exp.Expr,
    cols: arith._Columns,
    text: str,
    tokens: list[Any],
    level: Callable[[exp.Expr], int],
) -> list[tuple[int, int, int, str, int]]:
    """The text edits (position, kind, depth, piece, characters replaced) that turn
    each comparison :func:`comparisons` finds into its call: the operators between
    the operands become commas. A comparison whose text is not found exactly is a
    1235 (never SQLite's answer)."""
    out: list[tuple[int, int, int, str, int]] = []
    for node, operands, call, lead in comparisons(tree, cols):
        spans = [arith._span(text, tokens, o) for o in operands]
        if any(s is None for s in spans):
            raise _unrewritable(node)
        bounds = [s for s in spans if s is not None]
        if isinstance(node, exp.In):
            gaps = ["in"] + ["comma"] * (len(bounds) - 2)
        elif isinstance(node, exp.Between):
            gaps = ["between", "and"]
        else:
            gaps = ["binary"]
        negated = False
        pieces: list[tuple[int, int]] = []
        for (_, end), (start, _), gap in zip(bounds[:-1], bounds[1:], gaps, strict=True):
            between_text = text[end + 1 : start]
            m = _GAPS[gap].match(between_text)
            if m is None:
                raise _unrewritable(node)
            if gap in ("in", "between") and m.group(1):
                negated = True
            if gap != "comma":
                pieces.append((end + 1, start - end - 1))
        if negated and not isinstance(node.parent, exp.Not):
            raise _unrewritable(node)
        depth = level(node)
        head = ("NOT " if negated else "") + f"{call}({lead}, "
        out.append((bounds[0][0], 1, depth, head, 0))
        for pos, length in pieces:
            out.append((pos, 2, 0, ", ", length))
        if not isinstance(node, exp.In):  # an IN list's own ``)`` closes the call
            out.append((bounds[-1][1] + 1, 0, -depth, ")", 0))
    return out


def _unrewritable(node: exp.Expr) -> NotSupported:
    return NotSupported(
        f"the comparison {node.sql(dialect='mysql')[:200]} on the SQLite default (an "
        "operand whose type only its value tells, in a form the shard cannot rewrite)"
    )
