"""Planning GROUP BY, aggregates, HAVING and DISTINCT across shards.

Two ways to aggregate:

* **from partials** (:func:`plan_partials`) — over one table group, the shards compute
  partial aggregates grouped and ordered by the group key: ``AVG(x)`` becomes
  ``SUM(x), COUNT(x)``; the argument of a ``DISTINCT`` aggregate becomes an extra group
  column (each distinct value then arrives at least once), and so are GROUP_CONCAT's
  text, bytes and ORDER BY keys, with ``COUNT(*)`` as multiplicity
  (:mod:`sharding.merge.group_concat`); HAVING conjuncts on plain group columns run on
  the shards. A MergeSort interleaves the shards' groups and an
  OrderedAggregate combines them streaming (scalar aggregates: Concat → HashAggregate).
  ``SELECT DISTINCT`` without aggregates is the same plan with the select list as the
  group key. LIMIT is pushed down when the group order is the ORDER BY.
* **from raw rows** (:func:`plan_raw`) — above a cross-shard join, a HashAggregate
  evaluates group keys and arguments on the joined rows.

Above either: HAVING on aggregates (Filter), then :func:`sharding.sql.finish.finish_select`.
Expressions there are compiled against ``(group values…, aggregate results…)`` rows
(:class:`_PostResolver`); a column that is neither grouped nor aggregated is refused
(MySQL's ONLY_FULL_GROUP_BY would too; SQLite would pick an arbitrary row, which
cannot be reproduced across shards).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp

from sharding.backend.base import ColumnType
from sharding.catalog import TableInfo
from sharding.errors import NotSupported, ShardgateError
from sharding.merge.aggregates import VARIANCES, AggFunc, AggSpec
from sharding.merge.evaluate import Compiler, Ref
from sharding.merge.group_concat import ConcatSpec
from sharding.merge.semantics import SortItem
from sharding.sql.backend_eval import BackendEvalNode, BackendExpr, backend_expr
from sharding.sql.clauses import Item, OrderTerm, limit_ref, order_terms, resolve_item_ref
from sharding.sql.context import PlanContext, canon, deps_of
from sharding.sql.describe import (
    DECIMAL,
    INTEGER_TYPES,
    NEWDECIMAL,
    column_type,
    expression_type,
    temporal_digits,
)
from sharding.sql.enums import column_enum, enum_index
from sharding.sql.exprs import (
    and_all,
    column_affinity,
    column_collation,
    conjuncts,
    contains_aggregate,
    contains_window,
    is_aggregate,
)
from sharding.sql.finish import finish_select
from sharding.sql.nodes import AggregateNode, ConcatNode, FilterNode, MergeSortNode
from sharding.sql.reads import ShardOrder, select_for_shard, shard_read
from sharding.sql.rewrite import slot_of
from sharding.sql.route import Route
from sharding.sql.scope import Scope, top_level_nodes
from sharding.sql.source_stage import SourceStage, aggregate_stage

SUPPORTED_AGGREGATES: dict[type[exp.Expr], AggFunc] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Min: "min",
    exp.Max: "max",
    exp.Avg: "avg",
    exp.BitwiseAndAgg: "bit_and",
    exp.BitwiseOrAgg: "bit_or",
    exp.BitwiseXorAgg: "bit_xor",
    # MySQL's STD/STDDEV/STDDEV_POP, VARIANCE/VAR_POP, STDDEV_SAMP, VAR_SAMP.
    exp.StddevPop: "std_pop",
    exp.StddevSamp: "std_samp",
    exp.VariancePop: "var_pop",
    exp.Variance: "var_samp",
}
_VARIANCE_NAMES = {
    "std_pop": "STDDEV_POP",
    "std_samp": "STDDEV_SAMP",
    "var_pop": "VAR_POP",
    "var_samp": "VAR_SAMP",
}
#: MariaDB's scale increment of a variance over an exact argument (div_precision_increment
#: is not consulted: it is fixed at 4 for these), and its "not fixed" scale.
_VARIANCE_INCREMENT = 4
_NOT_FIXED_DEC = 31


@dataclass
class _Agg:
    """One distinct aggregate call of the statement."""

    node: exp.Expr
    func: AggFunc
    distinct: bool
    arg: exp.Expr | None
    key: str  # canon() of the call
    #: GROUP_CONCAT: its arguments, ORDER BY and separator.
    concat: _ConcatCall | None = None


@dataclass
class _ConcatCall:
    """``GROUP_CONCAT([DISTINCT] args… [ORDER BY keys…] [SEPARATOR s])``."""

    args: list[exp.Expr]
    order: list[tuple[exp.Expr, bool]]  # (key, descending)
    separator: str

    def value(self) -> exp.Expr:
        """The text of one row's arguments, as MariaDB renders them (NULL if one is)."""
        return exp.Concat(expressions=[a.copy() for a in self.args], safe=True)

    def exprs(self, distinct: bool) -> list[exp.Expr]:
        """What the shards group by and send: the text, its bytes, the ORDER BY keys and
        (DISTINCT) each argument."""
        value = self.value()
        raw = exp.Cast(this=value.copy(), to=exp.DataType.build("BINARY", dialect="mysql"))
        out: list[exp.Expr] = [value, raw, *(k for k, _ in self.order)]
        if distinct:
            out += [a for a in self.args if not isinstance(a, exp.Literal)]
        return out


def _collect_aggregates(nodes: Sequence[exp.Expr], ctx: PlanContext) -> list[_Agg]:
    found: list[_Agg] = []
    seen: set[str] = set()
    for root in nodes:
        for n in top_level_nodes(root):
            if not is_aggregate(n):
                continue
            key = canon(n, ctx)
            if key in seen:
                continue
            seen.add(key)
            found.append(_classify_aggregate(n, key, ctx))
    return found


def _aggregates_of(
    items: Sequence[Item], terms: Sequence[OrderTerm], having: exp.Expr | None, ctx: PlanContext
) -> list[_Agg]:
    """Every aggregate the select list, ORDER BY and HAVING use."""
    sources = [it.expr for it in items] + [t.expr for t in terms]
    if having is not None:
        sources.append(having)
    return _collect_aggregates(sources, ctx)


def _classify_aggregate(node: exp.Expr, key: str, ctx: PlanContext) -> _Agg:
    if isinstance(node, exp.Anonymous):  # TOTAL(x)
        if len(node.expressions) != 1:
            raise NotSupported("TOTAL() takes one argument")
        arg = node.expressions[0]
        _check_arg(arg, "TOTAL")
        return _Agg(node, "total", False, arg, key)
    name = node.sql_name() if isinstance(node, exp.Func) else type(node).__name__.upper()
    func = SUPPORTED_AGGREGATES.get(type(node))
    if func is not None and func.startswith("bit_"):
        name = func.upper()  # sqlglot's name is BITWISE_..._AGG
    if func in VARIANCES:
        name = _VARIANCE_NAMES[func]
    if isinstance(node, exp.GroupConcat):
        return _classify_group_concat(node, key, ctx)
    if func is None:
        # The name as MySQL spells it (sqlglot's JSONObjectAgg says J_S_O_N_OBJECT_AGG).
        written = node.sql(dialect="mysql").partition("(")[0].strip()
        shown = written.upper() if written.replace("_", "").isalnum() else name
        raise NotSupported(f"aggregate function {shown}() over several shards")
    arg = node.this
    distinct = False
    if isinstance(arg, exp.Distinct):
        if func.startswith("bit_") or func in VARIANCES:
            raise NotSupported(f"{name}(DISTINCT ...) over several shards")
        distinct = True
        if len(arg.expressions) != 1:
            if func != "count":
                raise NotSupported(f"{name}(DISTINCT with several columns) over several shards")
            # COUNT(DISTINCT a, b): distinct rows of (a, b) with no NULL in them.
            for e in arg.expressions:
                _check_arg(e, name)
            return _Agg(node, func, True, exp.Tuple(expressions=list(arg.expressions)), key)
        arg = arg.expressions[0]
    if node.expressions and func != "count":
        raise NotSupported(f"{name}() with several arguments")
    if func == "count" and (arg is None or isinstance(arg, exp.Star)):
        if distinct:
            raise NotSupported("COUNT(DISTINCT *)")
        return _Agg(node, "count_star", False, None, key)
    if arg is None:
        raise NotSupported(f"{name}() without an argument")
    _check_arg(arg, name)
    return _Agg(node, func, distinct, arg, key)


def _classify_group_concat(node: exp.GroupConcat, key: str, ctx: PlanContext) -> _Agg:
    """GROUP_CONCAT's parts (sqlglot folds several arguments into one CONCAT)."""
    body = node.this
    order: list[tuple[exp.Expr, bool]] = []
    ordered = []
    if isinstance(body, exp.Order):
        ordered = list(body.expressions)
        body = body.this
    distinct = isinstance(body, exp.Distinct)
    if isinstance(body, exp.Distinct):
        if len(body.expressions) != 1:
            raise NotSupported("GROUP_CONCAT(DISTINCT ...) of this form over several shards")
        body = body.expressions[0]
    args = list(body.expressions) if isinstance(body, exp.Concat) else [body]
    for a in args:
        _check_arg(a, "GROUP_CONCAT")
    for o in ordered:
        term = o.this
        n = _literal(term, ctx)
        if isinstance(n, int) and not isinstance(n, bool):
            if not 1 <= n <= len(args):
                raise ShardgateError(
                    f"Unknown column '{n}' in 'order clause'", code=1054, sqlstate="42S22"
                )
            term = args[n - 1]
        _check_arg(term, "GROUP_CONCAT")
        order.append((term, bool(o.args.get("desc"))))
    sep = node.args.get("separator")
    separator = "," if sep is None else _literal(sep, ctx)
    if not isinstance(separator, str):
        raise NotSupported("GROUP_CONCAT() with this SEPARATOR over several shards")
    if distinct:
        names = {a.sql(dialect="mysql") for a in args}
        if any(k.sql(dialect="mysql") not in names for k, _ in order):
            raise NotSupported(
                "GROUP_CONCAT(DISTINCT ... ORDER BY a key that is not an argument) over "
                "several shards"
            )
    return _Agg(node, "group_concat", distinct, None, key, _ConcatCall(args, order, separator))


def _literal(node: exp.Expr | None, ctx: PlanContext) -> Any:
    """The value of a literal (a number, a string; a placeholder's value, which the
    plan then depends on), else None."""
    if isinstance(node, exp.Literal):
        return node.name if node.is_string else (int(node.name) if node.name.isdigit() else None)
    if isinstance(node, exp.Placeholder):
        return ctx.structural(slot_of(node))
    return None


def _concat_spec(
    a: _Agg, shard_exprs: Sequence[exp.Expr], count: int | None, scope: Scope, ctx: PlanContext
) -> ConcatSpec:
    """Where the merged rows hold one GROUP_CONCAT's text, keys and arguments."""
    assert a.concat is not None
    keys = [canon(e, ctx) for e in shard_exprs]

    def pos(e: exp.Expr) -> int:
        return keys.index(canon(e, ctx))

    call = a.concat
    value = call.value()
    coll = column_collation(value, scope)
    return ConcatSpec(
        value=pos(value),
        count=count,
        order=tuple(
            (pos(k), d, column_collation(k, scope), column_enum(k, scope)) for k, d in call.order
        ),
        distinct=tuple(
            (pos(e), column_collation(e, scope))
            for e in call.args
            if a.distinct and not isinstance(e, exp.Literal)
        ),
        separator=call.separator,
        charset=(coll or ctx.sem.default_collation).split("_")[0],
    )


def _check_arg(arg: exp.Expr, name: str) -> None:
    if contains_aggregate(arg):
        raise ShardgateError(
            f"Invalid use of group function in {name}()", code=1111, sqlstate="HY000"
        )
    if contains_window(arg):
        raise NotSupported(f"window function inside {name}()")


def _hidden_digits(agg: _Agg, ctx: PlanContext) -> bool:
    """Whether a SUM/AVG partial can hold more digits than its shard sends.

    MySQL keeps a quotient with whole 9-digit words of fraction (``qty / 3`` is
    0.333333333 inside) and SUMs those inner values, but sends the partial rounded to
    its declared scale (0.3333): partials rounded per shard do not add up to the
    whole table's sum. Only a division makes inner digits the declared scale does not
    show (``+ - *`` and columns are exact at their scale).
    """
    if ctx.dialect != "mysql" or agg.func not in ("sum", "avg") or agg.arg is None:
        return False
    return any(isinstance(n, exp.Div) for n in top_level_nodes(agg.arg))


def _exact_sum(arg: exp.Expr) -> exp.Expr:
    """``SUM(arg) + CAST(0 AS DECIMAL(65,38))``: a DECIMAL sum sent with every inner
    digit (scale 38; a DOUBLE sum stays a DOUBLE, unchanged)."""
    zero = exp.Cast(
        this=exp.Literal.number(0),
        to=exp.DataType.build("DECIMAL(65, 38)", dialect="mysql"),
    )
    return exp.Add(this=exp.Sum(this=arg.copy()), expression=zero)


def _variance_kind(agg: _Agg, scope: Scope, ctx: PlanContext) -> tuple[bool, int | None, int]:
    """STD/VARIANCE of a column: ``(squares, decimals, scale)`` — whether the shards
    send an exact ``SUM(x * x)`` (INT and DECIMAL columns; a DOUBLE column sends its
    ``VAR_POP(x)``), the scale MariaDB shows the DOUBLE result with (None: all
    digits), and the column's own scale."""
    name = _VARIANCE_NAMES[agg.func]
    arg = agg.arg
    while isinstance(arg, exp.Paren):
        arg = arg.this
    found = scope.column_ref(arg) if isinstance(arg, exp.Column) else None
    info = found[1] if found is not None else None
    if info is None:
        raise NotSupported(f"{name}() of an expression over several shards (only of a column)")
    affinity = ctx.sem.affinity(info.type)
    if affinity == "REAL":
        if ctx.dialect != "mysql":
            # A DOUBLE column's shards send VAR_POP(x), which SQLite has not.
            raise NotSupported(
                f"{name}() of a DOUBLE column over several shards on the SQLite default"
            )
        return False, None, 0
    if affinity == "INTEGER":
        return True, _VARIANCE_INCREMENT, 0
    if affinity == "NUMERIC":
        m = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", info.type)
        scale = int(m.group(1)) if m else 0
        decimals = scale + _VARIANCE_INCREMENT
        return True, decimals if decimals < _NOT_FIXED_DEC else None, scale
    raise NotSupported(f"{name}() of a {info.type} column over several shards")


def _variance_partials(agg: _Agg, squares: bool, scale: int) -> list[exp.Expr]:
    """COUNT(x), SUM(x) and the exact ``SUM(x * x)`` (computed in DECIMAL: an INT
    square may overflow BIGINT) or ``VAR_POP(x)`` (see AggSpec.squares)."""
    assert agg.arg is not None
    x = agg.arg
    if squares:
        wide = exp.Cast(
            this=x.copy(), to=exp.DataType.build(f"DECIMAL(65, {scale})", dialect="mysql")
        )
        third: exp.Expr = exp.Sum(this=exp.Mul(this=x.copy(), expression=wide))
    else:
        third = exp.VariancePop(this=x.copy())
    return [exp.Count(this=x.copy()), exp.Sum(this=x.copy()), third]


def _partials(agg: _Agg, ctx: PlanContext) -> list[exp.Expr]:
    """What each shard computes for one aggregate (AVG: sum and count; a SUM/AVG that
    may hide digits: also the exact sum, see :func:`_hidden_digits`)."""
    if (
        ctx.dialect != "mysql"
        and agg.func in ("sum", "avg")
        and agg.arg is not None
        and any(isinstance(n, exp.Div) for n in top_level_nodes(agg.arg))
    ):
        # A SQLite shard's partial is rounded to the shown scale (see _hidden_digits).
        raise NotSupported(
            f"{agg.func.upper()}() of a quotient over several shards on the SQLite default"
        )
    if _hidden_digits(agg, ctx):
        assert agg.arg is not None
        first: list[exp.Expr] = [exp.Sum(this=agg.arg.copy())]
        if agg.func == "avg":
            first.append(exp.Count(this=agg.arg.copy()))
        return [*first, _exact_sum(agg.arg)]
    if agg.func == "count_star":
        return [exp.Count(this=exp.Star())]
    assert agg.arg is not None
    if agg.func == "count":
        return [exp.Count(this=agg.arg.copy())]
    if agg.func == "sum":
        return [exp.Sum(this=agg.arg.copy())]
    if agg.func == "total":
        return [exp.Anonymous(this="TOTAL", expressions=[agg.arg.copy()])]
    if agg.func == "min":
        return [exp.Min(this=agg.arg.copy())]
    if agg.func == "max":
        return [exp.Max(this=agg.arg.copy())]
    if agg.func.startswith("bit_"):
        # A shard's BIT_x of its rows; the same operation combines them (each shard
        # with no rows sends the operation's identity, as MySQL answers no rows).
        return [type(agg.node)(this=agg.arg.copy())]
    return [exp.Sum(this=agg.arg.copy()), exp.Count(this=agg.arg.copy())]  # avg


class _PostResolver:
    """Resolves expressions over ``(group values..., aggregate results...)`` rows."""

    def __init__(
        self,
        ctx: PlanContext,
        scope: Scope,
        groups: Sequence[exp.Expr],
        aggs: Sequence[_Agg],
        what: str,
    ) -> None:
        self.ctx = ctx
        self.what = what
        self.entries: dict[str, Ref] = {}
        self.by_value: dict[str, tuple[Ref, exp.Expr]] = {}
        for i, g in enumerate(groups):
            typed = _mysql_type(g, scope)
            ref = Ref(
                i,
                column_affinity(g, scope, ctx.sem),
                column_collation(g, scope),
                column_enum(g, scope),
                temporal_digits(typed),
                typed.is_integer and typed.unsigned,
            )
            self.entries.setdefault(canon(g, ctx), ref)
            self.by_value.setdefault(canon(g, ctx, by_value=True), (ref, g))
        for j, a in enumerate(aggs):
            # MIN/MAX of text is a value of its column: it compares with its collation.
            text = a.func in ("min", "max") and a.arg is not None
            coll = column_collation(a.arg, scope) if text and a.arg is not None else None
            if a.concat is not None:  # its text compares with its arguments' collation
                coll = column_collation(a.concat.value(), scope)
            ref = Ref(len(groups) + j, collation=coll)
            if a.func in ("min", "max") and a.arg is not None:
                # MIN/MAX of a DATE is a DATE, of an ENUM a label, of an UNSIGNED an
                # UNSIGNED: arithmetic on it computes with its number.
                typed = _mysql_type(a.arg, scope)
                ref = replace(
                    ref,
                    enum=column_enum(a.arg, scope),
                    temporal=temporal_digits(typed),
                    unsigned=typed.is_integer and typed.unsigned,
                )
            self.entries.setdefault(a.key, ref)
        #: Expressions a data source computed (BackendEvalNode), set by ``_finish``.
        self.computed: dict[str, Ref] = {}

    def lookup(self, node: exp.Expr) -> Ref | None:
        if isinstance(node, exp.Literal | exp.Placeholder | exp.Null | exp.Boolean):
            return None
        key = canon(node, self.ctx)
        if key in self.computed:
            return self.computed[key]
        ref = self.entries.get(key)
        if ref is not None:
            return ref
        if node.find(exp.Placeholder) is not None:
            hit = self.by_value.get(canon(node, self.ctx, by_value=True))
            if hit is not None:
                deps_of(node, self.ctx)
                deps_of(hit[1], self.ctx)
                return hit[0]
        return None

    def missing(self, node: exp.Expr) -> Exception:
        return NotSupported(
            f"column '{node.sql(dialect='mysql')}' in {self.what} is neither grouped nor "
            "aggregated (not supported over several shards)"
        )

    def slot(self, node: exp.Placeholder) -> int:
        return slot_of(node)


def _elements(arg: exp.Expr) -> list[exp.Expr]:
    """The arguments a DISTINCT aggregate groups by (several for COUNT(DISTINCT a, b))."""
    return list(arg.expressions) if isinstance(arg, exp.Tuple) else [arg]


def _unique(exprs: Sequence[exp.Expr], ctx: PlanContext) -> list[exp.Expr]:
    """``exprs`` without repeats (by :func:`canon`), first occurrence kept."""
    out: list[exp.Expr] = []
    keys: set[str] = set()
    for e in exprs:
        key = canon(e, ctx)
        if key not in keys:
            keys.add(key)
            out.append(e)
    return out


def _group_exprs(
    tree: exp.Select, items: list[Item], scope: Scope, ctx: PlanContext
) -> list[exp.Expr]:
    """The GROUP BY expressions (positions and aliases resolved), without repeats."""
    group = tree.args.get("group")
    if group is None:
        return []
    if group.args.get("cube") or group.args.get("grouping_sets"):
        raise NotSupported("GROUP BY ... CUBE/GROUPING SETS over several shards")
    if any(r.expressions for r in group.args.get("rollup") or ()):
        raise NotSupported("GROUP BY ROLLUP(...) over several shards (write WITH ROLLUP)")
    exprs: list[exp.Expr] = []
    for g in group.expressions:
        idx = resolve_item_ref(g, items, ctx, scope, alias_first=False)
        expr = items[idx].expr if idx is not None else g
        if contains_aggregate(expr):
            raise ShardgateError(
                f"Can't group on '{expr.sql(dialect='mysql')}'", code=1056, sqlstate="42000"
            )
        exprs.append(expr)
    unique = _unique(exprs, ctx)
    if group.args.get("rollup") and len(unique) != len(exprs):
        # MariaDB makes a super-aggregate level per repeat too.
        raise NotSupported("GROUP BY with a repeated column WITH ROLLUP over several shards")
    return unique


def _with_rollup(tree: exp.Select, terms: Sequence[OrderTerm]) -> bool:
    """``GROUP BY ... WITH ROLLUP`` (MariaDB refuses it with an ORDER BY: 1221)."""
    group = tree.args.get("group")
    if group is None or not group.args.get("rollup"):
        return False
    if terms:
        raise ShardgateError(
            "Incorrect usage of CUBE/ROLLUP and ORDER BY", code=1221, sqlstate="HY000"
        )
    if tree.args.get("distinct") is not None:
        # MariaDB keeps a super-aggregate row next to an equal-looking grouped row.
        raise NotSupported("SELECT DISTINCT with GROUP BY ... WITH ROLLUP over several shards")
    return True


def _concat_checks(aggs: Sequence[_Agg], ctx: PlanContext, rollup: bool) -> Any:
    """Plan-time refusals of GROUP_CONCAT, and ``(needs_sort, residual_having) → why``
    a cut could not be numbered as MariaDB numbers it (see sharding.merge.group_concat):
    MariaDB evaluates a group's GROUP_CONCAT only for the groups it sends (LIMIT/OFFSET
    without a sort stop early) or whose HAVING reads it."""
    concats = [a for a in aggs if a.concat is not None]
    if concats and rollup:
        raise NotSupported("GROUP_CONCAT() with WITH ROLLUP over several shards")

    def refusal(tree_limit: Any, needs_sort: bool, residual: Sequence[exp.Expr]) -> str:
        if tree_limit is not None and not needs_sort:
            return "with LIMIT"
        if residual and not any(c.find(exp.GroupConcat) for c in residual):
            return "with HAVING on other aggregates"
        return ""

    return refusal


def _pushable_having(cond: exp.Expr, groups: Sequence[exp.Expr], ctx: PlanContext) -> bool:
    """A HAVING conjunct that only looks at plain group columns can run on the shards."""
    if contains_aggregate(cond) or any(
        isinstance(n, exp.Select | exp.Subquery) for n in cond.walk()
    ):
        return False
    group_cols = {canon(g, ctx) for g in groups if isinstance(g, exp.Column)}
    columns = list(cond.find_all(exp.Column))
    return bool(columns) and all(canon(c, ctx) in group_cols for c in columns)


def _group_order(
    groups: Sequence[exp.Expr], terms: Sequence[OrderTerm], ctx: PlanContext
) -> tuple[list[ShardOrder], bool]:
    """The order to read groups in, and whether a Sort is still needed above.

    When ORDER BY names only group columns the groups are read in that order (no Sort);
    otherwise in group-key order and sorted after aggregation.
    """
    group_keys = [canon(g, ctx) for g in groups]
    on_groups: list[ShardOrder] = []
    for term in terms:
        key = canon(term.expr, ctx)
        if key not in group_keys or any(key == group_keys[i] for i, _, _ in on_groups):
            on_groups = []
            break
        on_groups.append((group_keys.index(key), term.desc, term.nulls_first))
    needs_sort = bool(terms) and len(on_groups) != len(terms)
    if needs_sort:
        return [(i, False, True) for i in range(len(groups))], True
    used = {i for i, _, _ in on_groups}
    return on_groups + [(i, False, True) for i in range(len(groups)) if i not in used], False


def plan_partials(
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    having: exp.Expr | None,
    holes: Sequence[TableInfo],
    route: Route,
    route_tables: tuple[TableInfo, ...],
    leader: int,
    *,
    distinct_only: bool,
) -> Any:
    """Aggregation from shard partials (module docstring); ``distinct_only``: a SELECT
    DISTINCT without aggregates, grouped by its select list."""
    if distinct_only:
        groups = _unique([it.expr for it in items], ctx)
    else:
        groups = _group_exprs(tree, items, scope, ctx)
    terms = order_terms(tree, items, ctx, scope)
    rollup = _with_rollup(tree, terms)
    aggs = _aggregates_of(items, terms, having, ctx)
    # HAVING: conjuncts on plain group columns run on the shards (with the backend's
    # own comparison rules); the rest is evaluated on merged groups. WITH ROLLUP: all
    # on merged rows (a super-aggregate row has NULL group values of its own).
    pushed_having: list[exp.Expr] = []
    residual_having: list[exp.Expr] = []
    for c in conjuncts(having):
        pushable = not rollup and _pushable_having(c, groups, ctx)
        (pushed_having if pushable else residual_having).append(c)
    distinct_args = _unique(
        [e for a in aggs if a.distinct and a.arg is not None for e in _elements(a.arg)]
        + [e for a in aggs if a.concat is not None for e in a.concat.exprs(a.distinct)],
        ctx,
    )
    concat_refusal = _concat_checks(aggs, ctx, rollup)
    group_order, needs_sort = _group_order(groups, terms, ctx)
    n_g, n_d = len(groups), len(distinct_args)
    shard_exprs: list[exp.Expr] = [*groups, *distinct_args]
    distinct_keys = [canon(d, ctx) for d in distinct_args]
    specs: list[AggSpec] = []
    counted: int | None = None
    for a in aggs:
        if a.concat is not None:
            count = None
            if not a.distinct:
                # The multiplicity of a shard row: one COUNT(*) serves every GROUP_CONCAT.
                if counted is None:
                    star = exp.Count(this=exp.Star())
                    same = [i for i, e in enumerate(shard_exprs) if e == star]
                    if not same:
                        shard_exprs.append(star)
                    counted = same[0] if same else len(shard_exprs) - 1
                count = counted
            spec = _concat_spec(a, shard_exprs, count, scope, ctx)
            refuse = concat_refusal(limit_ref(tree), needs_sort, residual_having)
            if refuse:
                spec = replace(spec, refuse_cut=refuse)
            specs.append(AggSpec(a.func, a.distinct, (spec.value,), concat=spec))
            continue
        if a.distinct and isinstance(a.arg, exp.Tuple):
            elements = _elements(a.arg)
            specs.append(
                AggSpec(
                    a.func,
                    True,
                    tuple(n_g + distinct_keys.index(canon(e, ctx)) for e in elements),
                    collations=tuple(column_collation(e, scope) for e in elements),
                )
            )
            continue
        coll = column_collation(a.arg, scope) if a.arg is not None else None
        if a.distinct:
            assert a.arg is not None
            pos = n_g + distinct_keys.index(canon(a.arg, ctx))
            specs.append(AggSpec(a.func, True, (pos,), collation=coll))
            continue
        cols = []
        squares, decimals = False, None
        if a.func in VARIANCES:
            squares, decimals, scale = _variance_kind(a, scope, ctx)
            partials = _variance_partials(a, squares, scale)
        else:
            partials = _partials(a, ctx)
        for p in partials:
            shard_exprs.append(p)
            cols.append(len(shard_exprs) - 1)
        specs.append(
            AggSpec(
                a.func,
                False,
                tuple(cols),
                collation=coll,
                exact=_hidden_digits(a, ctx),
                squares=squares,
                decimals=decimals,
            )
        )
    shard_order = group_order + [(n_g + k, False, True) for k in range(n_d)]
    # An ENUM key is ordered, merged and continued on its index (sharding.sql.enums):
    # a hidden ``col + 0`` column, grouped on too (the same groups).
    hidden: list[exp.Expr] = []
    for k, (i, d, nf) in enumerate(shard_order):
        if column_enum(shard_exprs[i], scope) is not None:
            hidden.append(enum_index(shard_exprs[i]))
            shard_exprs.append(hidden[-1])
            shard_order[k] = (len(shard_exprs) - 1, d, nf)
    grouped = bool(shard_order)
    # Which of several equal text values ('paid', 'Paid', 'paid ') shows for a group:
    # MariaDB the group's first row in its scan order (primary-key order); each shard
    # does the same for its rows, so partials carry MIN(pk) and the merge meets equal
    # groups in that order (see _first_row).
    first = _first_row(groups, scope, ctx) if grouped else None
    first_pos: int | None = None
    if first is not None:
        shard_exprs.append(exp.Min(this=first.copy()))
        first_pos = len(shard_exprs) - 1
    limit = limit_ref(tree)
    # Pushing LIMIT down is exact when the shards' group order is the final order and
    # nothing above drops groups (HAVING) or merges several shard rows per group
    # (a DISTINCT argument is an extra group column).
    # WITH ROLLUP: a super-aggregate row needs every group of its prefix.
    pushable = grouped and not needs_sort and not residual_having and not n_d and not rollup
    push_limit = limit if pushable else None
    shard_sel = select_for_shard(
        tree,
        shard_exprs,
        group=[*groups, *distinct_args, *hidden],
        having=and_all(pushed_having),
        order=shard_order if grouped else (),
    )
    keys = [(shard_exprs[i], i, d, nf) for i, d, nf in shard_order] if grouped else None
    read = shard_read(ctx, shard_sel, holes, route, route_tables, leader, keys, push_limit)
    child: Any
    source: SourceStage | str | None = None
    if ctx.dialect == "mysql" and read.no_union:
        source = read.no_union
    elif ctx.dialect == "mysql":
        source = aggregate_stage(
            shard_exprs,
            [*groups, *distinct_args, *hidden],
            shard_order if grouped else (),
            lambda arg: _exact_number(arg, scope),
            first=first_pos,
        )
    elif first_pos is not None:
        source = "a text group shows its first row's value: partials merged by MIN(primary key)"
    if grouped:
        sort = tuple(
            SortItem(i, d, nf, column_collation(shard_exprs[i], scope)) for i, d, nf in shard_order
        )
        if first_pos is not None and first is not None:
            # Equal groups of several shards meet in MIN(pk) order (each shard's stream
            # has a group once, so it is sorted by this longer key too).
            sort += (SortItem(first_pos, False, True, column_collation(first, scope)),)
        child = MergeSortNode(read, sort, source)
    else:
        child = ConcatNode(read, source)
    node = AggregateNode(
        child,
        group_columns=tuple(range(n_g)),
        group_collations=tuple(column_collation(g, scope) for g in groups),
        specs=tuple(specs),
        ordered=grouped,
        mode="merge",
        rollup=rollup,
    )
    return _finish(
        node,
        tree,
        scope,
        ctx,
        items,
        groups,
        aggs,
        residual_having,
        terms,
        needs_sort,
        limit,
        dedupe=not distinct_only,
    )


_TEXT = re.compile(r"\s*(?:national\s+)?(?:var)?char|\s*n?(?:tiny|medium|long)?text", re.I)


def _first_row(groups: Sequence[exp.Expr], scope: Scope, ctx: PlanContext) -> exp.Expr | None:
    """The primary-key column whose smallest value picks a group's shown values, when
    a group value can be one of several equal texts ('paid' = 'Paid' = 'paid ' under
    ``utf8mb4_general_ci``; trailing spaces under any PAD SPACE collation) — MariaDB
    shows the group's first row in its scan order, primary-key order for a table or
    primary-key range scan (a secondary index scan, or a join, may meet rows in another
    order: docs/refusals.md). None otherwise: no text group value, a composite or no
    primary key, several tables. SQLite shards show the first row's value when the
    partial's one ``min()`` is this ``MIN(pk)``
    (:func:`sharding.backend.sqlite_decimal_results._first_row_by_key`)."""
    if ctx.dialect not in ("mysql", "sqlite") or len(scope.refs) != 1:
        return None
    ref = scope.refs[0]
    if len(ref.info.primary_key) != 1:
        return None
    text = False
    for g in groups:
        node = g
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column):
            found = scope.column_ref(node)
            column = found[1] if found is not None else None
            if column is None:
                return None
            declared = column.type or ""
            if _TEXT.match(declared) and (column.collation or "").lower() != "binary":
                text = True
        elif column_collation(node, scope) is not None:
            text = True
    if not text:
        return None
    return exp.column(ref.info.primary_key[0], table=ref.alias)


def _mysql_type(arg: exp.Expr, scope: Scope) -> ColumnType:
    """MariaDB's type of ``arg`` (its rules over the catalog's column definitions)."""

    def lookup(col: exp.Column) -> ColumnType | None:
        found = scope.column_ref(col)
        if found is None or found[1] is None:
            return None
        return column_type(found[1], found[0].info)

    return expression_type(arg, lookup)


def _exact_number(arg: exp.Expr, scope: Scope) -> bool:
    """Whether MariaDB sums ``arg`` exactly: its type is an integer or a DECIMAL."""
    code = _mysql_type(arg, scope).type
    return code in INTEGER_TYPES or code in (DECIMAL, NEWDECIMAL)


def plan_raw(
    node: Any,
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    compiler: Compiler,
    having: exp.Expr | None,
) -> Any:
    """Aggregation over the rows of ``node`` (a join), each value computed by ``compiler``."""
    groups = _group_exprs(tree, items, scope, ctx)
    terms = order_terms(tree, items, ctx, scope)
    if _with_rollup(tree, terms):
        raise NotSupported("GROUP BY ... WITH ROLLUP above a join of several shards")
    aggs = _aggregates_of(items, terms, having, ctx)
    for a in aggs:
        if a.concat is not None:
            raise NotSupported("GROUP_CONCAT() above a join of several shards")
        if a.func.startswith("bit_"):
            # Raw values would need MySQL's conversion of every type to an unsigned
            # 64-bit integer; only shard partials (already converted) are merged.
            raise NotSupported(f"{a.func.upper()}() above a join of several shards")
    specs = []
    for a in aggs:
        arg_fn = compiler.compile(a.arg).fn if a.arg is not None else None
        coll = column_collation(a.arg, scope) if a.arg is not None else None
        decimals = _variance_kind(a, scope, ctx)[1] if a.func in VARIANCES else None
        specs.append(AggSpec(a.func, a.distinct, (), arg_fn, coll, decimals=decimals))
    node = AggregateNode(
        node,
        group_fns=tuple(compiler.compile(g).fn for g in groups),
        group_collations=tuple(column_collation(g, scope) for g in groups),
        specs=tuple(specs),
        ordered=False,
        mode="raw",
    )
    return _finish(
        node,
        tree,
        scope,
        ctx,
        items,
        groups,
        aggs,
        conjuncts(having),
        terms,
        bool(terms),
        limit_ref(tree),
    )


def _finish(
    node: Any,
    tree: exp.Select,
    scope: Scope,
    ctx: PlanContext,
    items: list[Item],
    groups: Sequence[exp.Expr],
    aggs: Sequence[_Agg],
    residual_having: Sequence[exp.Expr],
    terms: Sequence[OrderTerm],
    needs_sort: bool,
    limit: Any,
    *,
    dedupe: bool = True,
) -> Any:
    """Above the aggregate: HAVING, then select list, DISTINCT, ORDER BY, LIMIT.

    A HAVING conjunct, ORDER BY term or select item that only MySQL can compute
    (``HAVING CONCAT(MAX(a), 'x') = ...``, ``ORDER BY UPPER(MIN(s))``; see
    :mod:`sharding.sql.backend_eval`) is computed by one :class:`BackendEvalNode` right
    above the aggregate, its values appended to the merged rows; the compilers then
    read them as columns (:attr:`_PostResolver.computed`). A sorted or deduplicated
    value compares with its text inputs' collation (:func:`_computed_collation`).
    """
    resolvers = {
        what: _PostResolver(ctx, scope, groups, aggs, what)
        for what in ("HAVING", "the select list", "ORDER BY")
    }
    having = Compiler(resolvers["HAVING"], ctx.sem)
    select = Compiler(resolvers["the select list"], ctx.sem)
    order = Compiler(resolvers["ORDER BY"], ctx.sem)
    deferred: list[BackendExpr] = []
    width = len(groups) + len(aggs)
    mysql = ctx.dialect == "mysql"

    def defer(
        expr: exp.Expr, compiler: Compiler, sorted_: bool, error: Exception | None = None
    ) -> None:
        """Compute ``expr`` in MariaDB when the Python rules cannot (``error``)."""
        if _has_variance(expr):
            # A literal of the merged value would be its shown text or all its
            # digits; MariaDB uses one or the other depending on the context.
            raise NotSupported(
                f"'{expr.sql(dialect='mysql')}': a MySQL function over STD/VARIANCE "
                "over several shards"
            )
        be = backend_expr(expr, compiler) if mysql or ctx.dialect == "sqlite" else None
        if be is None:
            raise error or NotSupported(
                f"'{expr.sql(dialect='mysql')}' over merged aggregates (several shards)"
            )
        collation = _computed_collation(expr, be, ctx) if sorted_ else None
        ref = Ref(width + len(deferred), collation=collation)
        deferred.append(be)
        key = canon(expr, ctx)
        for r in resolvers.values():
            r.computed.setdefault(key, ref)

    distinct = tree.args.get("distinct") is not None
    for position, it in enumerate(items):
        sorted_ = distinct or any(t.index == position for t in terms)
        # What finish_select would hand to MariaDB (IF/CASE/COALESCE unify their
        # branches' types there) goes into this one node instead.
        unify = mysql and not sorted_ and it.expr.find(exp.Case, exp.If, exp.Coalesce)
        if unify and not _has_variance(it.expr) and backend_expr(it.expr, select) is not None:
            defer(it.expr, select, sorted_)
            continue
        if _has_variance(it.expr) and not is_aggregate(it.expr) and not _is_comparison(it.expr):
            # MariaDB shows the result of arithmetic over an INT/DECIMAL variance with
            # the variance's fixed scale; the merge's DOUBLE arithmetic shows every digit.
            raise NotSupported(
                f"'{it.expr.sql(dialect='mysql')}': an expression over STD/VARIANCE in the "
                "select list over several shards"
            )
        try:
            select.compile(it.expr)
        except NotSupported as exc:
            defer(it.expr, select, sorted_, exc)
    for term in terms:
        if term.index is None:
            try:
                order.compile(term.expr)
            except NotSupported as exc:
                defer(term.expr, order, True, exc)
    predicates: list[tuple[exp.Expr, Any]] = []
    for cond in residual_having:
        try:
            predicates.append((cond, having.predicate(cond)))
        except NotSupported as exc:
            defer(cond, having, False, exc)
            predicates.append((cond, having.predicate(cond)))
    if deferred:
        node = BackendEvalNode(node, tuple(deferred))
    if predicates:
        whole = and_all([c for c, _ in predicates])
        assert whole is not None
        tests = [fn for _, fn in predicates]
        node = FilterNode(
            node,
            tests[0] if len(tests) == 1 else _all_of(tests),
            whole.sql(dialect="mysql"),
        )
    return finish_select(
        node, tree, items, terms, select, order, sort=needs_sort, limit=limit, dedupe=dedupe
    )


_VARIANCE_TYPES = (exp.StddevPop, exp.StddevSamp, exp.VariancePop, exp.Variance)


def _has_variance(expr: exp.Expr) -> bool:
    return expr.find(*_VARIANCE_TYPES) is not None


def _is_comparison(expr: exp.Expr) -> bool:
    """A comparison (an integer 0/1/NULL, whatever the scale of its operands)."""
    return isinstance(
        expr, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE | exp.Is | exp.NullSafeEQ
    )


def _all_of(tests: Sequence[Any]) -> Any:
    return lambda row, p: all(t(row, p) for t in tests)


def _computed_collation(expr: exp.Expr, be: BackendExpr, ctx: PlanContext) -> str | None:
    """The collation a value MariaDB computed sorts and deduplicates with.

    MySQL's result of a text function takes its column inputs' collation (a column
    outranks a literal); text from no column at all has the connection's collation,
    the default (None). Inputs of several collations (MySQL's coercibility rules) are
    refused; an input without one (the default collation's text, or a number) counts
    as the default collation.
    """
    default = ctx.sem.default_collation.lower()
    collations = {(c or default).lower() for c in be.collations}
    if not collations or collations == {default}:
        return None
    if len(collations) == 1:
        return collations.pop()
    raise NotSupported(
        f"ORDER BY or DISTINCT on '{expr.sql(dialect='mysql')}' over several shards "
        "(its collation is not known to the merge)"
    )
