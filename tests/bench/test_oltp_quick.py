"""``bench.oltp --quick`` (issue 16's sysbench benchmark) runs end to end: every cell —
test × prepared/text mode × thread count × target (direct, bare trio relay, ``shardgate
serve`` with the aiomysql and the native driver) — is in the JSON with sane numbers,
the ratios are computed against the direct cell of the same row, and the PNG is
written. Speed is never asserted here (speed targets live in the benchmark's report)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pymysql
import pytest

from tests.bench.conftest import BenchRun
from tests.conftest import MYSQL_HOST, MYSQL_PORT

pytestmark = pytest.mark.mysql


@pytest.fixture
def oltp_run(bench_run: BenchRun) -> Iterator[BenchRun]:
    """The bench drops its databases itself; this catches a run that died half-way."""
    yield bench_run
    try:
        conn = pymysql.connect(
            host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", autocommit=True
        )
    except pymysql.err.OperationalError:
        return
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            for (name,) in cur.fetchall():
                if name.startswith("sgoltp_") and bench_run.suffix in name:
                    cur.execute(f"DROP DATABASE `{name}`")
    finally:
        conn.close()


@pytest.mark.slow  # sysbench in three modes: ~50 s
def test_oltp_quick_has_every_cell(oltp_run: BenchRun) -> None:
    assert shutil.which("sysbench"), "sysbench is installed by .ci/run (apt-get install sysbench)"
    oltp_run.ok("bench.oltp", "--quick", timeout=180)
    d = oltp_run.result("oltp_quick")
    assert d["quick"] is True
    assert d["tests"] == ["oltp_point_select", "oltp_read_only", "oltp_read_write"]
    assert d["ps_modes"] == ["auto", "disable"]
    assert d["targets"] == ["direct", "relay", "serve", "serve_native"]
    assert d["threads"] == [1, 8]
    cells = d["cells"]
    assert set(cells) == set(d["tests"])
    for test in d["tests"]:
        assert set(cells[test]) == set(d["ps_modes"])
        for mode in d["ps_modes"]:
            assert set(cells[test][mode]) == {str(n) for n in d["threads"]}
            for row in cells[test][mode].values():
                assert set(row) == set(d["targets"])
                direct = row["direct"]
                for target, c in row.items():
                    where = f"{test} {mode} {target}"
                    assert "error" not in c, f"{where}: {c.get('error')}"
                    assert c["transactions"] > 0 and c["queries"] >= c["transactions"], where
                    assert c["tps"] > 0 and c["qps"] >= c["tps"], where
                    assert c["seconds"] > 0 and c["p95_ms"] > 0, where
                    assert c["reconnects"] == 0, where
                    assert c["ratio"] == round(c["qps"] / direct["qps"], 3), where
                    cpu = c["cpu_us_per_query"]
                    if target == "direct":
                        assert cpu["middle"] is None and c["cpu_seconds"]["middle"] is None
                    else:  # the relay's or the coordinator's own process was read
                        assert cpu["middle"] is not None and cpu["middle"] >= 0, where
                    assert cpu["client"] >= 0 and c["cpu_seconds"]["wall"] > 0, where
                    if d["mariadb_cpu_measured"]:
                        assert cpu["mariadb"] is not None and cpu["mariadb"] >= 0, where
                        assert 0 <= cpu["mariadb_net"] <= cpu["mariadb"], where
                        assert c["mariadb_background_cores"] >= 0, where
                assert direct["ratio"] == 1.0
    # point selects are one query per transaction; read-write transactions are many
    one = cells["oltp_point_select"]["auto"]["1"]["direct"]
    assert one["queries"] == one["transactions"]
    rw = cells["oltp_read_write"]["auto"]["1"]["serve"]
    assert rw["queries"] > rw["transactions"]
    for g in d["goals"].values():
        op, goal = g["goal"].split()
        assert g["met"] == (
            g["measured"] >= float(goal) if op == ">=" else g["measured"] <= float(goal)
        )
    png = oltp_run.results / "oltp_quick.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--threads", "1,64"), "at most 32"),
        (("--targets", "relay,serve"), "direct is the baseline"),
        (("--tests", "oltp_nosuch"), "--tests: choose among"),
        (("--seconds", "0"), "must be >= 1"),
    ],
)
def test_oltp_bad_arguments_get_one_clear_line(
    bench_run: BenchRun, args: tuple[str, ...], message: str
) -> None:
    proc = bench_run.run("bench.oltp", *args, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
