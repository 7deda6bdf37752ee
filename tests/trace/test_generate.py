"""Trace generation: determinism, the shape of each kind, and the spec it writes."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import hypothesis.strategies as st
import pytest
import sqlglot
from hypothesis import given, settings

from sharding.trace.cli import main_trace
from sharding.trace.format import read_jsonl
from sharding.trace.generate import KINDS, GenOptions, generate, parse_mix, write_trace
from sharding.trace.spec import (
    ColumnSpec,
    SpecError,
    TableSpec,
    WorkloadSpec,
    mariadb_partition,
    spec_path_for,
)

_options = st.builds(
    GenOptions,
    kind=st.sampled_from(KINDS),
    shards=st.integers(1, 64),
    queries=st.integers(1, 40),
    clients=st.integers(1, 7),
    rate=st.sampled_from([0.0, 1.0, 500.0]),
    rows=st.integers(1, 5000),
    seed=st.integers(0, 2**31),
    batch_rows=st.integers(1, 30),
    join_span=st.integers(0, 200),
    arrival=st.sampled_from(["poisson", "uniform"]),
)


@settings(max_examples=40, deadline=None)
@given(opts=_options)
def test_generation_is_deterministic_and_well_formed(opts: GenOptions) -> None:
    spec1, recs1 = generate(opts)
    spec2, recs2 = generate(opts)
    a, b = list(recs1), list(recs2)
    assert a == b and spec1.to_dict() == spec2.to_dict()
    assert len(a) == opts.queries
    ts = [r.t for r in a]
    assert ts == sorted(ts) and ts[0] == 0.0
    if opts.rate == 0:
        assert set(ts) == {0.0}
    elif opts.arrival == "uniform":
        assert ts == pytest.approx([k / opts.rate for k in range(opts.queries)], abs=1e-6)
    assert [r.session for r in a] == [1 + k % opts.clients for k in range(opts.queries)]
    assert {r.kind for r in a} <= set(opts.kinds)
    tables = {t.name for t in spec1.tables}
    for r in a:
        assert r.params is not None
        # every statement names only the spec's tables in the spec's database
        for name in re.findall(r"\b(?:FROM|JOIN|INTO) (\w+)\.(\w+)", r.sql):
            assert name[0] == opts.database and name[1] in tables
        _check_shape(r.kind or "", r.sql, dict(r.params), opts)


def _check_shape(kind: str, sql: str, params: dict[str, object], opts: GenOptions) -> None:
    if kind == "point":
        key = params["id"]
        assert isinstance(key, int) and 1 <= key <= opts.rows
        assert sql.endswith(f"WHERE id = {key}")
    elif kind == "scatter-topk":
        assert re.search(rf"ORDER BY score DESC, id DESC LIMIT {opts.topk}$", sql)
    elif kind == "aggregate":
        assert "GROUP BY region" in sql and "AVG(score)" in sql
    elif kind == "sort-merge-join":
        assert "JOIN" in sql and sql.endswith(f"ORDER BY c.id, o.id LIMIT {opts.join_limit}")
        if opts.join_span:
            lo, hi = params["lo"], params["hi"]
            assert isinstance(lo, int) and isinstance(hi, int)
            assert 1 <= lo <= hi <= opts.rows and hi - lo + 1 == min(opts.join_span, opts.rows)
        else:
            assert "WHERE" not in sql
    elif kind == "insert-batch":
        assert params["rows"] == opts.batch_rows
        assert sql.count("),(") == opts.batch_rows - 1
    else:
        raise AssertionError(f"unexpected kind {kind}")
    if kind != "insert-batch":
        sqlglot.parse_one(sql, read="mysql")  # valid MySQL


def test_different_seeds_differ() -> None:
    a = [r.sql for r in generate(GenOptions(kind="point", queries=50, seed=1))[1]]
    b = [r.sql for r in generate(GenOptions(kind="point", queries=50, seed=2))[1]]
    assert a != b


def test_insert_batch_is_the_seed_000_shape() -> None:
    spec, recs = generate(GenOptions(kind="insert-batch", queries=6, clients=10, rate=0))
    [t] = spec.tables
    assert (spec.database, t.name, t.rows, t.shard_key) == ("db", "t", 0, "id1")
    types = Counter(c.type.split("(")[0] for c in t.columns)
    assert types == {"INT": 16, "VARCHAR": 3, "TIMESTAMP NULL": 1}
    records = list(recs)
    firsts = [r.params["first_row"] for r in records if r.params]
    assert firsts == [0, 1000, 2000, 3000, 4000, 5000]  # 6000 rows, no overlap
    first = records[0].sql
    assert first.startswith("INSERT INTO db.t (id1, id2,") and first.count("),(") == 999
    ids = [int(m) for m in re.findall(r"(?:VALUES |\),)\((\d+),", first)]
    assert ids == list(range(1, 1001))


def test_mixed_follows_the_weights() -> None:
    opts = GenOptions(
        kind="mixed", queries=4000, rows=1000, batch_rows=2, mix=parse_mix("point=3,aggregate=1")
    )
    counts = Counter(r.kind for r in generate(opts)[1])
    assert set(counts) == {"point", "aggregate"}
    assert counts["point"] / counts["aggregate"] == pytest.approx(3, rel=0.15)
    assert {t.name for t in build_tables(opts)} == {"customer"}


def build_tables(opts: GenOptions) -> tuple[TableSpec, ...]:
    return generate(opts)[0].tables


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "nope"}, "unknown kind"),
        ({"kind": "point", "shards": 0}, "--shards must be >= 1"),
        ({"kind": "point", "shards": 9000}, "8192"),
        ({"kind": "point", "rate": -1}, "--rate must be >= 0"),
        ({"kind": "point", "arrival": "bursty"}, "unknown arrival"),
        ({"kind": "mixed", "mix": {"point": 0}}, "positive total"),
        ({"kind": "mixed", "mix": {"bogus": 1}}, "unknown kind"),
    ],
)
def test_bad_options_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        GenOptions(**kwargs)  # type: ignore[arg-type]


def test_parse_mix_errors() -> None:
    assert parse_mix("point=1, aggregate=2.5") == {"point": 1.0, "aggregate": 2.5}
    for bad in ("point", "point=x", " , "):
        with pytest.raises(SpecError):
            parse_mix(bad)


# -- spec ---------------------------------------------------------------------------------


def test_spec_round_trip_and_ddl(tmp_path: Path) -> None:
    opts = GenOptions(kind="mixed", shards=16, rows=100)
    trace, spec_path, n = write_trace(opts, tmp_path / "w.jsonl")
    assert spec_path == tmp_path / "w.spec.json" == spec_path_for(trace)
    assert n == opts.queries == len(list(read_jsonl(trace)))
    spec = WorkloadSpec.load(spec_path)
    assert spec.to_dict() == json.loads(spec_path.read_text())
    assert {t.name for t in spec.tables} == {"customer", "orders", "t"}
    for t in spec.tables:
        ddl = spec.ddl(t)
        assert ddl.startswith(f"CREATE TABLE db.{t.name} (")
        assert ddl.endswith(f"PARTITION BY HASH({t.shard_key}) PARTITIONS 16")
    assert spec.index_ddl(spec.table("orders")) == [
        "CREATE INDEX ix_orders_customer ON db.orders (customer_id, id)"
    ]
    # the generator is reproducible from the file alone
    loaded, original = spec.table("customer"), generate(opts)[0].table("customer")
    assert [loaded.row(spec.seed, i) for i in range(50)] == [original.row(1, i) for i in range(50)]


def test_generated_values_respect_their_ranges() -> None:
    spec = generate(GenOptions(kind="sort-merge-join", rows=300))[0]
    customer, orders = spec.table("customer"), spec.table("orders")
    rows = [customer.row(spec.seed, i) for i in range(300)]
    assert [r[0] for r in rows] == list(range(1, 301))
    assert all(0 <= r[1] < 16 and 0 <= r[2] <= 999_999 and len(r[4]) == 12 for r in rows)
    assert len({r[2] for r in rows}) > 200  # scores spread out
    o = [orders.row(spec.seed, i) for i in range(300)]
    assert all(1 <= r[1] <= 300 for r in o)
    assert all(re.fullmatch(r"20(20|21|22)-\d\d-\d\d \d\d:\d\d:\d\d", r[4]) for r in o)
    assert customer.row(spec.seed, 7) != customer.row(spec.seed + 1, 7)


def test_spec_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(SpecError, match="not valid JSON"):
        WorkloadSpec.load(bad)
    with pytest.raises(SpecError, match="cannot read spec"):
        WorkloadSpec.load(tmp_path / "missing.json")
    good = generate(GenOptions(kind="point", rows=5))[0].to_dict()
    for mutate, message in [
        (lambda d: d.update(version=2), "unsupported spec version"),
        (lambda d: d.update(generator="x"), "unknown data generator"),
        (lambda d: d["tables"][0].pop("columns"), "malformed spec"),
        (lambda d: d["tables"][0]["columns"][1]["gen"].update(kind="uuid"), "gen kind"),
        (lambda d: d["tables"][0].update(shard_key="nope"), "shard key"),
        (lambda d: d.update(shards=0), "shards must be"),
        (lambda d: d.update(database="x; DROP"), "plain identifier"),
    ]:
        data = json.loads(json.dumps(good))
        mutate(data)
        bad.write_text(json.dumps(data))
        with pytest.raises(SpecError, match=message):
            WorkloadSpec.load(bad)
    with pytest.raises(SpecError, match="needs 'len'"):
        ColumnSpec("s", "TEXT", {"kind": "str"})


def test_mariadb_partition_rule() -> None:
    assert [mariadb_partition(v, 4) for v in (0, 1, 5, -5, 8)] == [0, 1, 1, 1, 0]


def test_cli_gen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.jsonl"
    assert (
        main_trace(["gen", "--kind", "point", "--shards", "4", "--queries", "7", "-o", str(out)])
        == 0
    )
    assert len(list(read_jsonl(out))) == 7 and (tmp_path / "x.spec.json").is_file()
    assert "wrote 7 statements" in capsys.readouterr().out
    assert main_trace(["gen", "--kind", "point", "--mix", "point=1", "-o", str(out)]) == 2
    assert "--mix only applies" in capsys.readouterr().err
    assert main_trace(["gen", "--kind", "point"]) == 2
    assert "required" in capsys.readouterr().err
