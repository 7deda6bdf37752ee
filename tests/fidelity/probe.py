"""Ad-hoc differential check: ``python -m tests.fidelity.probe [--sqlite] "SQL" ...``.

Each statement runs against the oracle and the coordinator (16 shards, chunk 1000; on
SQLite shard files with ``--sqlite``); a
statement that is not a SELECT runs inside BEGIN ... ROLLBACK with every table compared
afterwards, so probes never change the shared rows. Prints same/clear/wrong.
"""

from __future__ import annotations

import sys

from tests.fidelity.harness import TABLES, Case, environment, stop_all


def main(statements: list[str]) -> None:
    backend = "mysql"
    if statements and statements[0] == "--sqlite":
        backend, statements = "sqlite", statements[1:]
    env = environment(16, 1000, True, backend)
    cases = []
    for sql in statements:
        read = sql.lstrip().upper().startswith(("SELECT", "WITH", "(", "SHOW"))
        cases.append(
            Case("probe", sql, write=not read, tables=() if read else tuple(t.name for t in TABLES))
        )
    try:
        report = env.run(cases)
        print(report.table("probe"))
        print("\n".join(report.wrong))
        print("\n".join(report.clear))
    finally:
        stop_all()


if __name__ == "__main__":
    main(sys.argv[1:])
