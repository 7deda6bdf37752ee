"""Units of LOAD DATA (statement options, record cutting) and of the client character
set codec; the end-to-end comparisons with MariaDB are in tests/server/test_load_data.py
and tests/server/test_charsets.py."""

from __future__ import annotations

import pytest

from sharding.client_charset import decode_bytes, decode_statement, encode_text
from sharding.errors import ShardgateError
from sharding.load_data import RecordReader, parse_load_data


def test_parse_options() -> None:
    spec = parse_load_data(
        "LOAD DATA LOCAL INFILE '/x.csv' REPLACE INTO TABLE db.`t` CHARACTER SET latin1 "
        "COLUMNS TERMINATED BY ';' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
        "LINES STARTING BY '>' TERMINATED BY '\\r\\n' IGNORE 2 ROWS (a, `b c`);"
    )
    assert (spec.filename, spec.database, spec.table, spec.mode, spec.charset) == (
        "/x.csv",
        "db",
        "t",
        "REPLACE",
        "latin1",
    )
    assert (spec.field_term, spec.enclosed, spec.optionally, spec.escaped) == (";", '"', True, "")
    assert (spec.line_start, spec.line_term, spec.ignore_lines, spec.columns) == (
        ">",
        "\r\n",
        2,
        ["a", "b c"],
    )
    assert parse_load_data("LOAD DATA LOCAL INFILE 'f' INTO TABLE t").mode == "IGNORE"


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("LOAD DATA INFILE 'f' INTO TABLE t", 1235),
        ("LOAD XML LOCAL INFILE 'f' INTO TABLE t", 1235),
        ("LOAD DATA LOCAL INFILE 'f' INTO TABLE t SET a = 1", 1235),
        ("LOAD DATA LOCAL INFILE 'f' INTO TABLE t (@a)", 1235),
        ("LOAD DATA LOCAL INFILE 'f' INTO TABLE t PARTITION (p0)", 1235),
        ("LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS TERMINATED BY '' ENCLOSED BY ''", 1235),
        ("LOAD DATA LOCAL INFILE f INTO TABLE t", 1064),
        ("LOAD DATA LOCAL INFILE 'f' TABLE t", 1064),
        ("LOAD DATA LOCAL INFILE 'f' INTO TABLE t IGNORE x LINES", 1064),
        ("LOAD DATA LOCAL INFILE 'f' INTO TABLE t junk", 1064),
    ],
)
def test_parse_refusals(sql: str, code: int) -> None:
    with pytest.raises(ShardgateError) as err:
        parse_load_data(sql)
    assert err.value.code == code


TEXT = (
    'skip me\n1,"a ""q"", b",\\N,x\\,y\n2,"multi\nline",NULL,"NULL"\n'
    '3,tab\\there,,\\\\\n>not-a-prefix-test\n4,"end"","x"y",z'
)


def _records(spec_sql: str, text: str, step: int) -> list[list[str | None]]:
    reader = RecordReader(parse_load_data(spec_sql))
    out: list[list[str | None]] = []
    for i in range(0, len(text), step):
        out.extend(reader.feed(text[i : i + step]))
    out.extend(reader.finish())
    return out


def test_records_any_chunking() -> None:
    """Records do not depend on where the packets cut the text."""
    sql = (
        "LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS TERMINATED BY ',' "
        "OPTIONALLY ENCLOSED BY '\"' IGNORE 1 LINES"
    )
    whole = _records(sql, TEXT, len(TEXT))
    assert whole[:4] == [
        ["1", 'a "q", b', None, "x,y"],
        ["2", "multi\nline", None, "NULL"],
        ["3", "tab\there", "", "\\"],
        [">not-a-prefix-test"],
    ]
    for step in (1, 2, 3, 7, 16):
        assert _records(sql, TEXT, step) == whole


def test_line_prefix_and_terminators() -> None:
    sql = (
        "LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS TERMINATED BY '||' "
        "LINES STARTING BY 'ROW:' TERMINATED BY '\\r\\n'"
    )
    text = "junk\r\nROW:1||a\r\nxxROW:2||b||c\r\nnope\r\nROW:3||"
    for step in (1, 4, len(text)):
        assert _records(sql, text, step) == [["1", "a"], ["2", "b", "c"], ["3", ""]]


def test_latin1_is_mysqls() -> None:
    """MySQL's latin1 is cp1252 with every byte defined; all 256 bytes round-trip."""
    raw = bytes(range(256))
    text = decode_bytes(raw, "latin1")
    assert text[0x80] == "€" and text[0x81] == "\x81" and text[0xE9] == "é"
    assert encode_text(text, "latin1") == raw
    assert encode_text("日", "latin1", "replace") == b"?"


def test_decode_statement() -> None:
    # Raw bytes in a _binary literal (a driver's parameter): a hex literal, byte-exact.
    assert (
        decode_statement(b"SELECT _binary'\xff\\0\\'x' = b", "utf8mb4")
        == "SELECT _binary X'FF002778' = b"
    )
    # Valid UTF-8 is left alone; so is a quoted alias.
    assert decode_statement("SELECT 'é' AS 'ü'".encode(), "utf8mb4") == "SELECT 'é' AS 'ü'"
    # A latin1 client: a write's non-ASCII value keeps its character set.
    assert (
        decode_statement(b"INSERT INTO t VALUES ('\xe9', _binary '\xe9', 'a')", "latin1")
        == "INSERT INTO t VALUES (_latin1 X'E9', _binary X'E9', 'a')"
    )
    assert decode_statement(b"SELECT '\xe9' AS x", "latin1") == "SELECT 'é' AS x"


def test_decode_statement_bytes_outside_strings() -> None:
    # In a comment they mean nothing; in a name they are MariaDB's 1300.
    assert decode_statement(b"SELECT 1 /* \xff */", "utf8mb4") == "SELECT 1 /* ? */"
    with pytest.raises(ShardgateError) as err:
        decode_statement(b"SELECT `a\xff` FROM t", "utf8mb4")
    assert err.value.code == 1300
