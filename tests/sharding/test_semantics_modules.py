"""The split of ``sharding.merge.semantics`` (issue 13) keeps every old import working.

``mysql_semantics`` subclasses the base in ``semantics``, which re-exports the MySQL
names lazily; these check that either module can be imported first (a fresh
interpreter each, since the import order is the point) and that the re-exported names
are the very objects of their new modules.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

_CHECK = """
from sharding.merge import mysql_decimal, mysql_semantics, semantics
from sharding.merge.semantics import MYSQL, SQLITE, MySQLDecimal, MySQLSemantics, for_dialect
assert MYSQL is mysql_semantics.MYSQL and MySQLSemantics is mysql_semantics.MySQLSemantics
assert MySQLDecimal is mysql_decimal.MySQLDecimal
assert semantics.mysql_divide is mysql_decimal.mysql_divide
assert semantics._EXACT is mysql_decimal._EXACT
assert for_dialect("mysql") is MYSQL and for_dialect("sqlite") is SQLITE
assert all(SQLITE.collations[k] is v for k, v in MYSQL.collations.items() if k != "binary")
"""


@pytest.mark.parametrize(
    "first",
    ["sharding.merge.semantics", "sharding.merge.mysql_semantics", "sharding.merge.mysql_decimal"],
)
def test_any_import_order(first: str) -> None:
    code = f"import {first}\n{_CHECK}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_name_is_an_attribute_error() -> None:
    from sharding.merge import semantics

    with pytest.raises(AttributeError):
        _ = semantics.no_such_name
