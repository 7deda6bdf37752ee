"""Issue 11, wrong-answer classes 6, 7 and 9, against one unsharded MariaDB.

* **decimal** (class 6) — SUM/AVG partials merged across shards must give the whole
  table's exact answer at MySQL's result scale: SUM keeps the argument's scale, AVG
  adds ``div_precision_increment`` (4), and a quotient's hidden inner digits (``qty /
  3`` is 0.333333333 inside, sent as 0.3333) are summed before rounding once.
* **enum** (class 7) — ENUM columns sort by index, compare with strings by label;
  GROUP BY/DISTINCT/ORDER BY merged from index-ordered shards, MIN/MAX by label, with
  tiny chunks (keyset continuation on an ENUM key).
* **names** (class 9) — result column names are the select items' text as typed, with
  MySQL's rules for literals, parentheses and quoted aliases, single-shard and
  scattered; and for server-side prepared statements (placeholders named ``?``).

Every statement runs on the oracle and through the coordinator (16 shards, chunk 1000
and chunk 2); a wrong answer fails the test, refusals (1235) are printed.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from tests.conftest import MYSQL_PORT
from tests.fidelity.harness import Case, Environment
from tests.server.rawclient import RawClient, err_code

pytestmark = pytest.mark.mysql

DECIMAL = [
    Case("decimal", sql)
    for sql in [
        "SELECT SUM(qty / 3) FROM orders",
        "SELECT SUM(amount / 7) FROM orders",
        "SELECT AVG(qty / 7) FROM orders",
        "SELECT AVG(amount) FROM orders",
        "SELECT AVG(qty) FROM orders",
        "SELECT SUM(amount * qty), SUM(amount), AVG(amount * 3) FROM orders",
        "SELECT AVG(price), SUM(price / 7), AVG(price / 3) FROM order_items",
        "SELECT SUM(price * 2) + 1, SUM(qty / 3) * 3, AVG(amount) * 2 FROM orders, order_items "
        "WHERE order_items.order_id = orders.id",
        "SELECT customer_id, SUM(qty / 3), AVG(amount), AVG(qty / 3) FROM orders "
        "GROUP BY customer_id ORDER BY customer_id",
        "SELECT qty, SUM(amount / 3) s, AVG(qty) a FROM orders GROUP BY qty "
        "HAVING SUM(amount / 3) > 1000 ORDER BY qty",
        "SELECT qty, AVG(amount) a FROM orders GROUP BY qty HAVING a > 400 ORDER BY qty",
        "SELECT customer_id % 7 k, AVG(qty / 7) FROM orders GROUP BY k ORDER BY AVG(qty / 7) DESC",
        "SELECT ROUND(AVG(amount), 2), ROUND(SUM(qty / 3), 6), ROUND(AVG(qty / 7), 3), "
        "ROUND(SUM(qty), -1), ROUND(AVG(price)) FROM orders JOIN order_items ON order_id = id",
        "SELECT qty, ROUND(AVG(amount / 3), 4) FROM orders GROUP BY qty ORDER BY qty",
        "SELECT SUM(qty / 3) / 3, SUM(amount / 3) / 7 FROM orders",
        "SELECT size, SUM(qty / 9), AVG(amount / 9) FROM orders GROUP BY size ORDER BY size",
        "SELECT SUM(qty / 3) FROM orders WHERE id IN (3, 19, 35)",
        "SELECT AVG(qty / 7), SUM(amount / 7) FROM orders WHERE id = 5",
        "SELECT SUM(DISTINCT qty / 3), AVG(DISTINCT amount) FROM orders",
        # DISTINCT sums the values at their declared scale (MariaDB keeps them so)
        "SELECT SUM(DISTINCT amount / 3), AVG(DISTINCT amount / 7) FROM orders",
        "SELECT SUM(qty / 3) FROM orders WHERE id > 1000",
    ]
]

ENUM = [
    Case("enum", sql)
    for sql in [
        "SELECT size, COUNT(*) FROM orders GROUP BY size ORDER BY size",
        "SELECT size, COUNT(*) FROM orders GROUP BY size ORDER BY size DESC",
        "SELECT size, COUNT(*) FROM orders GROUP BY size",
        "SELECT DISTINCT size FROM orders ORDER BY size DESC",
        "SELECT DISTINCT size FROM orders",
        "SELECT DISTINCT size, qty FROM orders ORDER BY size, qty DESC",
        "SELECT id, size FROM orders ORDER BY size, id",
        "SELECT id, size FROM orders ORDER BY size DESC, id DESC LIMIT 30",
        "SELECT id FROM orders ORDER BY size, id LIMIT 7 OFFSET 40",
        "SELECT size, COUNT(*) c FROM orders GROUP BY size ORDER BY c DESC, size",
        "SELECT qty, size, SUM(amount) FROM orders GROUP BY qty, size ORDER BY size DESC, qty",
        "SELECT MIN(size), MAX(size) FROM orders",
        "SELECT customer_id, MIN(size), MAX(size) FROM orders GROUP BY customer_id "
        "ORDER BY customer_id",
        "SELECT id FROM orders WHERE size > 'medium' ORDER BY id",
        "SELECT id FROM orders WHERE size = 2 ORDER BY id",
        "SELECT size, COUNT(DISTINCT qty) FROM orders GROUP BY size ORDER BY size",
        "SELECT qty, COUNT(DISTINCT size) FROM orders GROUP BY qty ORDER BY qty",
        "SELECT size FROM orders GROUP BY size HAVING COUNT(*) > 50 ORDER BY size DESC",
        "SELECT size, COUNT(*) FROM orders WHERE id IN (1, 2, 3, 4, 5, 6) GROUP BY size "
        "ORDER BY size",
        # Above a cross-shard join (orders and events have different shard counts).
        "SELECT o.id, o.size FROM orders o JOIN events e ON e.id = o.id WHERE o.id < 40 "
        "ORDER BY o.size, o.id",
        "SELECT o.size, e.kind FROM orders o JOIN events e ON e.id = o.id "
        "ORDER BY o.size DESC, e.id LIMIT 7",
    ]
]

NAMES = [
    Case("names", sql)
    for sql in [
        # single shard (passthrough)
        "SELECT CASE WHEN qty > 3 THEN 'a' ELSE 'b' END FROM orders WHERE id = 5",
        "SELECT IF(qty > 1, 'x', 'y'), CAST(qty AS SIGNED), COUNT(NULL) FROM orders WHERE id = 5",
        "SELECT 'a''b', -1, - 1, (- 1), NULL, null, TRUE, false, 1+1, 1.50, 0x41 FROM orders "
        "WHERE id = 3",
        "SELECT amount AS \"amt\", qty 'q''ty', status AS `st``x`, id AS `Ident` FROM orders "
        "WHERE id = 3",
        "SELECT (id), `qty`, orders.status, (('x')), (+1), +(1+1), 'x' 'y', _utf8mb4'z', N'n' "
        "FROM orders WHERE id = 3",
        "SELECT NOW() IS NOT NULL, @x+1, @x, CONCAT(UPPER(status), LOWER( note )) FROM orders "
        "WHERE id = 4",
        "SELECT (SELECT name FROM regions WHERE code = 'eu'), Id, ID + 0 FROM orders WHERE id = 4",
        "SELECT  count( * ) ,  Sum(qty*2) , sum(qty * 2) s2 FROM orders WHERE id = 4",
        "SELECT '   lead', '' FROM orders WHERE id = 4",
        "SELECT * , id+1 FROM orders WHERE id = 4",
        "SELECT status /* a comment */ , qty /* inner */ + 1 FROM orders WHERE id = 4",
        # several shards (scatter)
        "SELECT CASE WHEN qty > 3 THEN 'a' ELSE 'b' END, IF(qty > 1, 'x', 'y') FROM orders",
        "SELECT 'a''b', -1, NULL, TRUE, 1+1, amount AS \"amt\", (id), CAST(qty AS SIGNED) "
        "FROM orders",
        "SELECT  count( * ) , Sum(qty*2), COUNT(NULL), MAX(qty) + 1 AS 'm', AVG(qty) FROM orders",
        "SELECT status, COUNT(*) AS 'n', SUM(qty * 2) FROM orders GROUP BY status",
        "SELECT Status, count(*) FROM orders GROUP BY status ORDER BY status",
        "SELECT DISTINCT Size, (qty), qty + 0 FROM orders",
        "SELECT id, UPPER(status) FROM orders ORDER BY id LIMIT 3",
        "SELECT o.id, o.amount * 2, i.price FROM orders o JOIN order_items i "
        "ON i.order_id = o.id ORDER BY o.id, i.line LIMIT 5",
        "SELECT *, 'x' FROM regions",
        "SELECT 1 + 1, 'lit', NULL",
        # a quoted alias is still an alias for ORDER BY / GROUP BY
        "SELECT id, amount AS 'amt' FROM orders ORDER BY amt, id LIMIT 5",
        'SELECT id, amount AS "amt" FROM orders WHERE id = 5 ORDER BY amt',
        "SELECT qty 'q', COUNT(*) FROM orders GROUP BY q ORDER BY q",
        "SELECT qty AS 'a''b', COUNT(*) AS \"n\" FROM orders GROUP BY 1 ORDER BY 1",
        # UNION / WITH: the first SELECT's items name the result
        "SELECT IF(weight > 2, 'a', 'b'), count(*) FROM regions GROUP BY 1 UNION ALL SELECT 'c', 1",
        "SELECT 'a''b', Code FROM regions UNION SELECT 'c', 'd'",
        "WITH r AS (SELECT * FROM regions) SELECT IF(weight>2,'a','b'), 'q''' FROM r",
    ]
]


def _run(env: Environment, cases: list[Case], title: str) -> None:
    report = env.run(cases)
    print(report.table(f"{title} on {env.shards} shards, chunk {env.chunk}"))
    for line in report.clear:
        print("refused:", line)
    assert not report.wrong, "\n".join(report.wrong)
    assert sum(c["same"] for c in report.counts.values()) >= len(cases) - len(report.clear)


def test_decimal_partials(env: Environment) -> None:
    _run(env, DECIMAL, "class 6: DECIMAL partial aggregates")


def test_enum_columns(env: Environment) -> None:
    _run(env, ENUM, "class 7: ENUM columns")


def test_result_column_names(env: Environment) -> None:
    _run(env, NAMES, "class 9: result column names")


# ----------------------------------------------------------------------------- prepared


def _lenenc(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    if first < 0xFB:
        return first, pos + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(buf[pos + 1 : pos + 1 + size], "little"), pos + 1 + size


def _column_name(packet: bytes) -> str:
    pos = 0
    for _ in range(4):  # catalog, schema, table, org_table
        n, pos = _lenenc(packet, pos)
        pos += n
    n, pos = _lenenc(packet, pos)
    return packet[pos : pos + n].decode("utf-8")


def _prepared_names(port: int, database: str, sql: str, params: list[Any]) -> list[str] | int:
    """Column names of a server-side prepared statement's execution (or its error)."""
    c = RawClient(port, timeout=30)
    try:
        assert c.login(database=database)[-1][0] == 0x00
        c.command(b"\x16" + sql.encode())
        _, ok = c.read_packet()
        if ok[0] == 0xFF:
            return err_code(ok) or -1
        stmt_id, ncols, nparams = struct.unpack_from("<IHH", ok, 1)
        for count in (nparams, ncols):
            for _ in range(count):
                c.read_packet()
            if count:
                c.read_packet()  # EOF
        types, values = b"", b""
        for p in params:
            if isinstance(p, int):
                types += struct.pack("<BB", 8, 0)
                values += struct.pack("<q", p)
            else:
                data = str(p).encode()
                types += struct.pack("<BB", 253, 0)
                values += bytes((len(data),)) + data
        nulls = bytes((len(params) + 7) // 8)
        c.command(b"\x17" + struct.pack("<IBI", stmt_id, 0, 1) + nulls + b"\x01" + types + values)
        packets = c.read_response()
        if packets[0][0] == 0xFF:
            return err_code(packets[0]) or -1
        width, _ = _lenenc(packets[0], 0)
        return [_column_name(p) for p in packets[1 : 1 + width]]
    finally:
        c.close()


PREPARED: list[tuple[str, list[Any]]] = [
    (
        "SELECT ?, 'a', CONCAT(?, 'b'), ? AS x, ? 'y', (?) FROM orders WHERE id = 3",
        [1, "q", 2, "z", "w"],
    ),
    ("SELECT ?, 'a', CONCAT(?, 'b'), ? AS x, ? 'y', (?) FROM orders", [1, "q", 2, "z", "w"]),
    ("SELECT id + ?, CASE WHEN qty > ? THEN 'a' END FROM orders WHERE id = ?", [1, 3, 7]),
    ("SELECT COUNT(*), SUM(qty * ?) FROM orders WHERE id > ?", [2, 10]),
    ("SELECT status, COUNT(*) + ? AS n FROM orders GROUP BY status", [1]),
    ("SELECT IF(qty > ?, ?, 'no') FROM orders WHERE id IN (?, ?)", [3, "yes", 1, 2]),
    ("SELECT 1.50, -?, ('s'), NULL FROM orders WHERE id = ?", [5, 3]),
    ("SELECT  ? + 1 , UPPER( ? ) FROM regions", [1, "x"]),
]


def test_prepared_statement_names(env: Environment) -> None:
    wrong = []
    for sql, params in PREPARED:
        oracle = _prepared_names(MYSQL_PORT, env.oracle_db, sql, params)
        sharded = _prepared_names(env.port, env.logical_db, sql, params)
        print(f"{sql}\n  oracle {oracle}\n  shardgate {sharded}")
        if oracle != sharded:
            wrong.append(f"{sql}: oracle {oracle}, shardgate {sharded}")
    assert not wrong, "\n".join(wrong)
