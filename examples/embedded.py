"""Middleware-style use of the coordinator on embedded SQLite shards.

A program (a web service, a batch job) keeps one ``Coordinator`` for its lifetime and
issues statements from many trio tasks at once; the coordinator routes each to the
shards it needs, runs the shard statements through its bucketed executor, and merges
the results. Run it from the repository root::

    python examples/embedded.py

It uses ``examples/cluster.toml`` (two SQLite data sources, a co-located pair of
tables, a broadcast table) and writes its shard files under ``examples/.shardgate``.
"""

from __future__ import annotations

import logging
import random
import shutil
import sys
from pathlib import Path

import structlog
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sharding import Coordinator, ShardgateError, Topology

HERE = Path(__file__).resolve().parent


async def main() -> None:
    # One structured event per statement goes to the log; keep the demo output clean.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    shutil.rmtree(HERE / ".shardgate", ignore_errors=True)
    topology = Topology.load(HERE / "cluster.toml")
    async with Coordinator(topology) as coord:
        # DDL: declared tables take their rule from the TOML; others from PARTITION BY
        # or the cluster defaults.
        await coord.execute(
            "CREATE TABLE orders (customer_id INT NOT NULL, order_id INT NOT NULL, "
            "placed DATE, status VARCHAR(10), PRIMARY KEY (customer_id, order_id))"
        )
        await coord.execute(
            "CREATE TABLE order_lines (customer_id INT NOT NULL, order_id INT NOT NULL, "
            "line INT NOT NULL, product_id INT, qty INT, price DOUBLE, "
            "PRIMARY KEY (customer_id, order_id, line))"
        )
        await coord.execute("CREATE TABLE products (product_id INT PRIMARY KEY, name VARCHAR(20))")
        await coord.execute(
            "CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT, kind VARCHAR(10)) "
            "PARTITION BY KEY(id) PARTITIONS 8"
        )

        # Writes: multi-row INSERTs are split by shard without building a syntax tree.
        rng = random.Random(1)
        await coord.execute(
            "INSERT INTO products VALUES " + ", ".join(f"({p}, 'product-{p}')" for p in range(20))
        )
        orders, lines = [], []
        for customer in range(200):
            for order in range(rng.randint(1, 4)):
                orders.append(
                    f"({customer}, {order}, '2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}', '{rng.choice(['new', 'paid', 'sent'])}')"
                )
                for line in range(rng.randint(1, 3)):
                    lines.append(
                        f"({customer}, {order}, {line}, {rng.randrange(20)}, {rng.randint(1, 5)}, {rng.randint(1, 400) / 4})"
                    )
        await coord.execute("INSERT INTO orders VALUES " + ", ".join(orders))
        await coord.execute("INSERT INTO order_lines VALUES " + ", ".join(lines))
        result = await coord.execute(
            "INSERT INTO events (customer_id, kind) VALUES (1, 'login'), (2, 'login')"
        )
        print(f"events: {result.affected} rows, first generated id {result.last_insert_id}")

        # Many concurrent requests, as a service would issue them.
        async def customer_total(customer: int, out: dict[int, float]) -> None:
            res = await coord.execute(
                "SELECT SUM(l.qty * l.price) FROM orders o JOIN order_lines l "
                "ON o.customer_id = l.customer_id AND o.order_id = l.order_id "
                "WHERE o.customer_id = ? AND o.status <> 'new'",
                [customer],
            )
            out[customer] = res.rows[0][0] or 0.0

        totals: dict[int, float] = {}
        async with trio.open_nursery() as nursery:
            for customer in range(50):
                nursery.start_soon(customer_total, customer, totals)
        best = max(totals, key=lambda c: totals[c])
        print(f"50 concurrent point queries; best customer {best}: {totals[best]:.2f}")

        # A scatter query: co-located join + broadcast join + GROUP BY + ORDER BY/LIMIT.
        top = await coord.execute(
            "SELECT p.name, SUM(l.qty) AS units, AVG(l.price) FROM order_lines l "
            "JOIN products p ON p.product_id = l.product_id GROUP BY p.name "
            "ORDER BY units DESC, p.name LIMIT 3"
        )
        print("top products:", top.rows)
        print(
            await coord.explain(
                "SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status"
            )
        )

        # Streaming a large ordered result with bounded memory.
        streamed = 0
        async for batch in coord.stream(
            "SELECT customer_id, order_id, placed FROM orders ORDER BY placed, customer_id, order_id"
        ):
            streamed += len(batch)
        print(f"streamed {streamed} orders in date order")

        # A session: transactions (one backend transaction per data source).
        session = coord.open_session()
        await session.execute("BEGIN")
        await session.execute("UPDATE orders SET status = 'sent' WHERE status = 'paid'")
        await session.execute("DELETE FROM order_lines WHERE qty = 5")
        await session.execute("COMMIT")
        await session.close()

        # Errors come back with MySQL codes.
        for sql in ("SELECT * FROM orders ORDER BY", "SELECT ROW_NUMBER() OVER () FROM orders"):
            try:
                await coord.execute(sql)
            except ShardgateError as exc:
                print(f"error {exc.code}: {exc}")
        status = coord.executor.statistics()
        print(
            f"executor: {status.completed} shard statements completed, {status.queries} queries open"
        )


if __name__ == "__main__":
    trio.run(main)
