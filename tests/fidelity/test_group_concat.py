"""Issue 18, item 6: GROUP_CONCAT over several shards — against one unsharded MariaDB on
16 and 1024 shards with tiny chunks (``VARIANTS``).

The shards send each group's ``CONCAT(args…)`` (MariaDB renders numbers, dates and
ENUMs), its bytes, the ORDER BY keys and (DISTINCT) the arguments, grouped, with
``COUNT(*)`` as multiplicity; the coordinator orders, deduplicates, joins and cuts at
the session's ``group_concat_max_len`` with warning 1260 (``sharding/merge/
group_concat.py``). Without ORDER BY inside, MariaDB's order is its scan order: the
cases order inside, or have one element per group.

Refused (1235): GROUP_CONCAT above a cross-shard join, WITH ROLLUP, DISTINCT ordered by
a key that is not an argument, and a *cut* where MariaDB would not evaluate every group
(LIMIT/OFFSET without a sort, HAVING on other aggregates: its "Row N" numbering).
"""

from __future__ import annotations

import pytest

from tests.fidelity.harness import Case, Environment, Report

pytestmark = pytest.mark.mysql

FORMS = [
    "SELECT GROUP_CONCAT(id ORDER BY id) FROM orders WHERE id < 40",
    "SELECT size, GROUP_CONCAT(id ORDER BY id DESC) FROM orders GROUP BY size ORDER BY size",
    "SELECT size, GROUP_CONCAT(id ORDER BY id DESC) FROM orders GROUP BY size ORDER BY size DESC",
    # Several arguments: a row with a NULL among them is skipped.
    "SELECT customer_id, GROUP_CONCAT(id, '-', qty ORDER BY id SEPARATOR '; ') FROM orders "
    "GROUP BY customer_id ORDER BY customer_id",
    # DECIMAL, DATETIME, ENUM (ordered by its index), DOUBLE arguments.
    "SELECT size, GROUP_CONCAT(amount ORDER BY amount, id) FROM orders GROUP BY size",
    "SELECT qty, GROUP_CONCAT(created ORDER BY created DESC SEPARATOR '|') FROM orders "
    "GROUP BY qty",
    "SELECT qty, GROUP_CONCAT(size ORDER BY size, id) FROM orders GROUP BY qty",
    "SELECT customer_id % 3 k, GROUP_CONCAT(score ORDER BY score, id) FROM events GROUP BY k",
    "SELECT GROUP_CONCAT(DISTINCT score ORDER BY score DESC) FROM events",
    # Duplicates under utf8mb4_general_ci ('paid', 'Paid', 'paid ') are kept apart.
    "SELECT qty, GROUP_CONCAT(status ORDER BY status, id) FROM orders GROUP BY qty",
    "SELECT GROUP_CONCAT(DISTINCT LOWER(TRIM(status)) ORDER BY LOWER(TRIM(status))) FROM orders",
    "SELECT size, GROUP_CONCAT(DISTINCT qty ORDER BY qty DESC SEPARATOR '') FROM orders "
    "GROUP BY size",
    "SELECT GROUP_CONCAT(DISTINCT size ORDER BY size) FROM orders",
    # A binary argument makes a binary result.
    "SELECT qty, GROUP_CONCAT(id, CAST(status AS BINARY) ORDER BY id) FROM orders GROUP BY qty",
    "SELECT GROUP_CONCAT(DISTINCT CAST(status AS BINARY) ORDER BY 1 DESC) FROM orders",
    # ORDER BY position (an argument), several keys.
    "SELECT qty, GROUP_CONCAT(size, id ORDER BY 1 DESC, 2) FROM orders GROUP BY qty",
    # NULLs only, no rows.
    "SELECT customer_id, GROUP_CONCAT(note ORDER BY id) FROM orders WHERE customer_id < 12 "
    "GROUP BY customer_id",
    "SELECT GROUP_CONCAT(id) FROM orders WHERE id < 0",
    "SELECT size, GROUP_CONCAT(id) FROM orders WHERE id < 0 GROUP BY size",
    # One element per group: no order inside needed.
    "SELECT id, GROUP_CONCAT(status) FROM orders WHERE id < 30 GROUP BY id",
    # With other aggregates, HAVING and ORDER BY on it.
    "SELECT size, COUNT(*), SUM(qty), COUNT(DISTINCT status), "
    "GROUP_CONCAT(DISTINCT qty ORDER BY qty) FROM orders GROUP BY size",
    "SELECT qty, COUNT(*), AVG(amount), GROUP_CONCAT(id ORDER BY id DESC) FROM orders GROUP BY qty",
    "SELECT qty, GROUP_CONCAT(id ORDER BY id) g, GROUP_CONCAT(DISTINCT size ORDER BY size) "
    "FROM orders GROUP BY qty",
    "SELECT size, GROUP_CONCAT(DISTINCT qty ORDER BY qty) g FROM orders GROUP BY size "
    "HAVING g <> '0,1,2,3,4,5,6,7,8' ORDER BY g DESC",
    "SELECT qty FROM orders GROUP BY qty ORDER BY GROUP_CONCAT(DISTINCT size ORDER BY size), qty",
    "SELECT customer_id % 5 k, GROUP_CONCAT(id ORDER BY id) FROM orders GROUP BY k "
    "ORDER BY k LIMIT 2",
    "SELECT name, GROUP_CONCAT(n) FROM tags GROUP BY name",
    "SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR '/') FROM tags",
]

CUTS = [
    (
        "SET SESSION group_concat_max_len = 10",
        "SELECT size, GROUP_CONCAT(id ORDER BY id) FROM orders GROUP BY size ORDER BY size",
        "SHOW WARNINGS",
        "SELECT @@warning_count",
    ),
    (
        "SET SESSION group_concat_max_len = 10",
        "SELECT GROUP_CONCAT(id ORDER BY id DESC) FROM orders",
        "SHOW WARNINGS",
    ),
    (
        "SET SESSION group_concat_max_len = 4",
        # (DISTINCT keeps one of the values its collation finds equal — MariaDB the
        # first in its scan order: the statuses are normalised here.)
        "SELECT qty, GROUP_CONCAT(size ORDER BY id), GROUP_CONCAT(DISTINCT LOWER(TRIM(status)) "
        "ORDER BY LOWER(TRIM(status)) DESC) FROM orders WHERE id < 60 GROUP BY qty "
        "ORDER BY qty DESC",
        "SHOW WARNINGS",
    ),
    (
        # A character boundary: 'é' is two bytes.
        "SET SESSION group_concat_max_len = 5",
        "SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR 'é') FROM tags",
        "SHOW WARNINGS",
        "SET SESSION group_concat_max_len = 8",
        "SELECT GROUP_CONCAT(name ORDER BY name DESC SEPARATOR 'é') FROM tags",
        "SHOW WARNINGS",
    ),
    (
        "SET SESSION group_concat_max_len = 12",
        "SELECT size, GROUP_CONCAT(id ORDER BY id) g FROM orders GROUP BY size "
        "HAVING g LIKE '1%' ORDER BY g",
        "SHOW WARNINGS",
        "SELECT size, COUNT(*) FROM orders GROUP BY size ORDER BY GROUP_CONCAT(id ORDER BY id) "
        "LIMIT 1",
        "SHOW WARNINGS",
    ),
]

REFUSED = [
    (
        "SELECT o.size, GROUP_CONCAT(e.kind ORDER BY e.id) FROM orders o JOIN events e "
        "ON e.id = o.id GROUP BY o.size"
    ),
    "SELECT size, GROUP_CONCAT(id ORDER BY id) FROM orders GROUP BY size WITH ROLLUP",
    "SELECT GROUP_CONCAT(DISTINCT size ORDER BY id) FROM orders",
    # A cut where MariaDB evaluates only some groups.
    (
        "SET SESSION group_concat_max_len = 4",
        "SELECT size, GROUP_CONCAT(id ORDER BY id) FROM orders GROUP BY size ORDER BY size LIMIT 1",
    ),
]


def test_group_concat_forms(env: Environment) -> None:
    report = env.run([Case("group_concat", sql) for sql in FORMS])
    env.check(report, "issue 18.6: GROUP_CONCAT", answered=True)


def test_group_concat_cut_with_warnings(env: Environment) -> None:
    report = env.run([Case("group_concat cut", sql) for sql in CUTS])
    env.check(report, "issue 18.6: GROUP_CONCAT cut", answered=True)


def test_group_concat_prepared(env: Environment) -> None:
    report = Report()
    env.run_params(
        "group_concat prepared",
        [
            ("SET SESSION group_concat_max_len = 10", ()),
            (
                "SELECT size, GROUP_CONCAT(id ORDER BY id SEPARATOR ?) g FROM orders "
                "WHERE qty = ? GROUP BY size ORDER BY size",
                ("-", 3),
            ),
            ("SHOW WARNINGS", ()),
        ],
        report,
    )
    env.run_params(
        "group_concat prepared",
        [
            (
                "SELECT qty, GROUP_CONCAT(DISTINCT size ORDER BY size) FROM orders "
                "WHERE id > ? GROUP BY qty ORDER BY qty",
                (100,),
            ),
        ],
        report,
    )
    env.check(report, "issue 18.6: GROUP_CONCAT prepared")


def test_group_concat_refusals(env: Environment) -> None:
    report = env.run([Case("group_concat refused", sql) for sql in REFUSED])
    env.check(report, "issue 18.6: GROUP_CONCAT refused")
    assert report.counts["group_concat refused"]["clear"] == len(REFUSED)
