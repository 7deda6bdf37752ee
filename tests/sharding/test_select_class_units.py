"""Unit tests of the pieces behind issue 11's classes 3, 4, 5 and 8 (no server needed).

The end-to-end answers are compared with MariaDB in tests/fidelity/test_select_classes.py;
these pin the pieces: the shard dialect's spellings, hex routing by key type, the
outer-join hazard rule, the select-alias candidates, and binding only the tables a
read's template names.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlglot import exp

from sharding.catalog import ColumnInfo, TableInfo
from sharding.errors import NotSupported
from sharding.exec.targets import shard_targets
from sharding.merge.semantics import MYSQL
from sharding.sql.derived import merge_broadcast_derived
from sharding.sql.join_plan import broadcast_outer_sides, outer_join_hazard
from sharding.sql.nodes import ShardRead
from sharding.sql.parse import parse_one
from sharding.sql.route import ALL, build_route
from sharding.sql.scope import ALIAS_CANDIDATE, Scope, mark_alias_candidates
from sharding.sql.shard_dialect import shard_dialect
from sharding.sql.template import compile_template, table_marker
from sharding.topology import ShardRule


def _render(sql: str) -> str:
    return parse_one(sql).sql(dialect=shard_dialect("mysql"))


# ---------------------------------------------------------------------- dialect


def test_regexp_renders_as_the_operator_mariadb_has() -> None:
    assert _render("SELECT a REGEXP 'x' FROM t") == "SELECT (a REGEXP 'x') FROM t"
    assert _render("SELECT a RLIKE 'x' FROM t") == "SELECT (a REGEXP 'x') FROM t"
    assert (
        _render("SELECT 1 FROM t WHERE a NOT REGEXP 'x'")
        == "SELECT 1 FROM t WHERE NOT (a REGEXP 'x')"
    )
    # Written as a call (MariaDB has no such function): stays a call, so the backend
    # gives the client the error it would give without shardgate.
    assert _render("SELECT REGEXP_LIKE(a, 'x') FROM t") == "SELECT REGEXP_LIKE(a, 'x') FROM t"


def test_hex_literal_keeps_the_form_written() -> None:
    assert _render("SELECT 0x10, X'10', x'', 0xAbC") == "SELECT 0x10, X'10', X'', 0xAbC"
    assert _render("SELECT b'101', 0b11") == "SELECT b'101', b'11'"
    # Other backends keep sqlglot's own dialect.
    assert shard_dialect("sqlite") == "sqlite"


# ---------------------------------------------------------------------- routing


def _info(key_type: str, algorithm: str = "mod") -> TableInfo:
    rule = ShardRule(algorithm, 8, "k", ("ds0",))  # type: ignore[arg-type]
    return TableInfo("db", "t", rule, (ColumnInfo("k", key_type), ColumnInfo("v", "TEXT")))


def _route(where: str, info: TableInfo) -> set[int] | None:
    tree = parse_one(f"SELECT * FROM t WHERE {where}")

    def key_of(col: Any) -> tuple[int, bool] | None:
        return (0, False) if col.name == "k" else None

    route = build_route(tree.args["where"], key_of, lambda p: 0)
    return route.shards([info], [], MYSQL)


def test_hex_and_bit_literals_route_as_numbers_on_an_integer_key() -> None:
    info = _info("BIGINT")
    assert _route("k = 0x10", info) == {0}
    assert _route("k = 0x11", info) == {1}
    assert _route("k IN (0x11, b'1010', 0b11, 4)", info) == {1, 2, 3, 4}
    assert _route("k BETWEEN 0x0f AND b'10001'", info) == {7, 0, 1}
    with pytest.raises(NotSupported):
        _route("k = X'10'", info)  # a string: MariaDB warns per row compared


def test_hex_literals_route_as_bytes_on_a_text_key() -> None:
    info = _info("VARCHAR(16)", "hash")
    assert _route("k = 0x616c706861", info) == _route("k = 'alpha'", info)
    assert _route("k = X'414C504841'", info) == _route("k = 'ALPHA'", info)
    assert _route("k = X'ff'", info) is None  # not UTF-8: every shard decides


# ---------------------------------------------------------------------- outer joins


def _scope(sql: str) -> tuple[exp.Select, Scope]:
    sharded = ShardRule("mod", 4, "id", ("ds0",))
    broadcast = ShardRule(broadcast=True, datasources=("ds0",))
    cols = (ColumnInfo("id", "INT"), ColumnInfo("k", "INT"))
    tables = {
        ("db", "s"): TableInfo("db", "s", sharded, cols, ("id",)),
        ("db", "s2"): TableInfo("db", "s2", sharded, cols, ("id",)),
        ("db", "b"): TableInfo("db", "b", broadcast, cols, ("id",)),
    }
    tree = parse_one(sql)
    assert isinstance(tree, exp.Select)
    return tree, Scope(tree, tables, "db")


@pytest.mark.parametrize(
    "sql, hazard",
    [
        ("SELECT * FROM b LEFT JOIN s ON s.k = b.k", True),
        ("SELECT * FROM s RIGHT JOIN b ON s.k = b.k", True),
        ("SELECT * FROM s LEFT JOIN b ON s.k = b.k", False),
        ("SELECT * FROM b RIGHT JOIN s ON s.k = b.k", False),
        ("SELECT * FROM b JOIN s ON s.k = b.k", False),
        ("SELECT * FROM b LEFT JOIN s ON s.k = b.k WHERE s.id = 3", False),  # NULLs rejected
        ("SELECT * FROM b LEFT JOIN s ON s.k = b.k WHERE s.id IS NOT NULL", False),
        ("SELECT * FROM b LEFT JOIN s ON s.k = b.k WHERE s.id IS NULL", True),
        ("SELECT * FROM b LEFT JOIN s ON s.k = b.k WHERE b.id = 3", True),
        ("SELECT * FROM b LEFT JOIN s ON s.k = b.k WHERE COALESCE(s.id, 0) = 0", True),
        ("SELECT * FROM b JOIN b AS b2 ON b2.id = b.id LEFT JOIN s ON s.k = b.k", True),
        ("SELECT * FROM s JOIN b ON b.k = s.k RIGHT JOIN b AS b2 ON b2.id = b.id", True),
        ("SELECT * FROM s JOIN b ON b.k = s.k LEFT JOIN s2 ON s2.id = s.id", False),
        ("SELECT * FROM (SELECT * FROM b) d LEFT JOIN s ON s.k = d.k", True),
        ("SELECT * FROM s LEFT JOIN (SELECT * FROM b) d ON s.k = d.k", False),
    ],
)
def test_outer_join_hazard(sql: str, hazard: bool) -> None:
    tree, scope = _scope(sql)
    assert (outer_join_hazard(tree, scope) is not None) is hazard


def test_two_table_broadcast_outer_join_runs_with_the_broadcast_side_preserved() -> None:
    _, scope = _scope("SELECT * FROM b LEFT JOIN s ON s.k = b.k")
    sides = broadcast_outer_sides(scope)
    assert sides is not None and [r.alias for r in sides] == ["b", "s"]
    _, scope = _scope("SELECT * FROM s RIGHT JOIN b ON s.k = b.k")
    sides = broadcast_outer_sides(scope)
    assert sides is not None and [r.alias for r in sides] == ["b", "s"]
    _, scope = _scope("SELECT * FROM (SELECT * FROM b) d LEFT JOIN s ON s.k = d.k")
    assert broadcast_outer_sides(scope) is None


# ---------------------------------------------------------------------- aliases


def test_alias_candidates_are_bare_order_terms_and_having_names_outside_aggregates() -> None:
    tree = parse_one(
        "SELECT DATE(c) AS c, SUM(a) AS a, b FROM t GROUP BY DATE(c) "
        "HAVING a > 1 AND MAX(a) > 2 AND t.a > 0 ORDER BY (c), c + 0, b"
    )
    assert isinstance(tree, exp.Select)
    mark_alias_candidates(tree)
    marked = [c.sql() for c in tree.find_all(exp.Column) if c.meta.get(ALIAS_CANDIDATE)]
    # HAVING's bare ``a`` and ORDER BY's ``(c)``; not MAX(a)'s argument, not ``t.a``,
    # not ``c`` inside ``c + 0`` (a table column first there), not ``b`` (no alias).
    assert sorted(marked) == ["a", "c"]


# ---------------------------------------------------------------------- targets


def test_a_read_binds_only_the_tables_its_template_names() -> None:
    """One side of a join of a 16-shard and a 3-shard table carries both tables."""
    big = TableInfo("db", "big", ShardRule("mod", 16, "id", ("ds0",), physical="p.big_{shard}"))
    small = TableInfo(
        "db", "small", ShardRule("mod", 3, "id", ("ds0",), physical="p.small_{shard}")
    )
    read = ShardRead(compile_template(f"SELECT * FROM {table_marker(0)}"), (big, small), ALL, 0)
    targets = shard_targets(read, [15], "mysql")
    assert targets[0].names[0].endswith("`big_15`") and targets[0].names[1] == ""


def test_targets_are_remembered_per_read_and_let_go_with_it() -> None:
    """A cached plan's read scatters to the same shards call after call: the second call
    builds nothing (the same Target objects), other shards or another dialect get their
    own, a refusal is not remembered (letting go: tests/sharding/test_weak_memo.py)."""
    from sharding.exec import targets as targets_module

    rule = ShardRule("mod", 4, "id", ("ds0", "ds1"), physical="p.t_{shard}")
    read = ShardRead(
        compile_template(f"SELECT * FROM {table_marker(0)}"), (TableInfo("db", "t", rule),), ALL, 0
    )
    first = shard_targets(read, [0, 1, 2, 3], "mysql")
    again = shard_targets(read, [0, 1, 2, 3], "mysql")
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))
    again.pop()  # the caller's list is its own
    assert len(shard_targets(read, [0, 1, 2, 3], "mysql")) == 4
    assert [t.datasource for t in first] == ["ds0", "ds1", "ds0", "ds1"]
    two = shard_targets(read, [2], "mysql")
    assert two == [first[2]] and shard_targets(read, [2], "mysql")[0] is two[0]
    sqlite = shard_targets(read, [0], "sqlite")
    assert sqlite[0] is not first[0] and "`" not in sqlite[0].names[0]
    assert targets_module._TARGETS.holds(read)

    broadcast = TableInfo("db", "b", ShardRule(broadcast=True, datasources=("ds0",)))
    mixed = ShardRead(
        compile_template(f"SELECT * FROM {table_marker(0)} JOIN {table_marker(1)}"),
        (TableInfo("db", "t", rule), broadcast),
        ALL,
        0,
    )
    for _ in range(2):  # shard 1 is on ds1, where the broadcast table has no copy
        with pytest.raises(NotSupported, match="no copy on data source 'ds1'"):
            shard_targets(mixed, [1], "mysql")
    assert shard_targets(mixed, [0], "mysql")[0].datasource == "ds0"


def test_a_select_list_of_plain_references_runs_as_a_column_selection() -> None:
    """``SELECT DISTINCT c``, a group column: a select list whose items only read input
    values runs as a column selection (no call per item and row); one computed item
    keeps the expressions. Remembered per node of the cached plan, and let go with it."""
    import gc

    from sharding.exec import run as run_module
    from sharding.merge.evaluate import Compiled, Compiler
    from sharding.sql.nodes import ProjectNode

    class Positions:
        def lookup(self, node: exp.Expr) -> Any:
            from sharding.merge.evaluate import Ref

            return Ref(int(node.name[1:])) if isinstance(node, exp.Column) else None

        def missing(self, node: exp.Expr) -> Exception:
            return LookupError(node)

        def slot(self, node: exp.Placeholder) -> int:
            return 0

    compiler = Compiler(Positions(), MYSQL)  # type: ignore[arg-type]
    c2, c0 = compiler.compile(exp.column("c2")), compiler.compile(exp.column("c0"))
    computed = Compiled(lambda row, p: row[0] + 1)
    refs = ProjectNode(None, exprs=(c2.fn, c0.fn))  # type: ignore[arg-type]
    assert run_module._project_references(refs) == (2, 0)
    assert run_module._PROJECT_REFERENCES.holds(refs)
    mixed = ProjectNode(None, exprs=(c0.fn, computed.fn))  # type: ignore[arg-type]
    assert run_module._project_references(mixed) == ()
    # Earlier tests' plan nodes that only a collection frees must not count here.
    gc.collect()
    held = len(run_module._PROJECT_REFERENCES)
    del refs
    gc.collect()
    assert len(run_module._PROJECT_REFERENCES) == held - 1
    assert run_module._PROJECT_REFERENCES.holds(mixed)


# ---------------------------------------------------------------------- derived tables


def _merged(sql: str) -> str:
    sharded = ShardRule("mod", 4, "id", ("ds0",))
    broadcast = ShardRule(broadcast=True, datasources=("ds0",))
    cols = (ColumnInfo("id", "INT"), ColumnInfo("k", "INT"), ColumnInfo("w", "INT"))
    catalog = {
        ("db", "s"): TableInfo("db", "s", sharded, cols[:2], ("id",)),
        ("db", "b"): TableInfo("db", "b", broadcast, cols, ("id",)),
    }
    select = parse_one(sql)
    assert isinstance(select, exp.Select)
    merge_broadcast_derived(select, catalog, "db")
    return select.sql(dialect="mysql")


@pytest.mark.parametrize(
    "sql, merged",
    [
        (
            "SELECT s.id, d.x FROM s JOIN (SELECT k, w * 2 AS x FROM b WHERE w > 1) d ON d.k = s.k",
            "SELECT s.id, d.w * 2 AS x FROM s JOIN b AS d ON (d.k = s.k) AND (d.w > 1)",
        ),
        (
            "SELECT d.k, s.id FROM (SELECT k FROM b WHERE w > 1) d LEFT JOIN s ON s.k = d.k",
            "SELECT d.k, s.id FROM b AS d LEFT JOIN s ON s.k = d.k WHERE (d.w > 1)",
        ),
        # Left as written: a RIGHT JOIN after a filtered first table, an outer ``*``
        # over a partial derived table, a hidden inner column named outside.
        (
            "SELECT s.id FROM (SELECT k FROM b WHERE w > 1) d RIGHT JOIN s ON s.k = d.k",
            "SELECT s.id FROM (SELECT k FROM b WHERE w > 1) AS d RIGHT JOIN s ON s.k = d.k",
        ),
        (
            "SELECT * FROM s JOIN (SELECT k FROM b) d ON d.k = s.k",
            "SELECT * FROM s JOIN (SELECT k FROM b) AS d ON d.k = s.k",
        ),
        (
            "SELECT s.id, w FROM s JOIN (SELECT k FROM b) d ON d.k = s.k",
            "SELECT s.id, w FROM s JOIN (SELECT k FROM b) AS d ON d.k = s.k",
        ),
    ],
)
def test_simple_derived_tables_over_broadcast_tables_merge(sql: str, merged: str) -> None:
    assert _merged(sql) == merged
