"""``LOAD DATA LOCAL INFILE``: the statement's options and the file's records.

A sharded table is loaded by turning the file into multi-row INSERTs (the INSERT path
splits each batch by shard, and the session's transaction keeps the whole load in one
transaction per data source). This module is the pure part: it reads the statement
(:func:`parse_load_data`) and cuts the file text into records as it arrives
(:class:`RecordReader`), so a file of any size is loaded in bounded memory — only the
unfinished tail of the last packet and one batch of rows are held.

Field syntax follows MySQL's: ``FIELDS TERMINATED BY`` (default tab), ``[OPTIONALLY]
ENCLOSED BY`` (a doubled enclosure is one), ``ESCAPED BY`` (default backslash: ``\\0
\\b \\n \\r \\t \\Z``, ``\\N`` is NULL, any other escaped character is itself), ``LINES
STARTING BY`` (a line without the prefix is skipped) / ``TERMINATED BY`` (default
newline); with an enclosure, the unquoted word ``NULL`` is NULL. What is not offered
(server-side files, ``SET``, user variables in the column list, ``PARTITION``, fixed-width
rows, ``LOAD XML``) is refused with 1235, never half-done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sharding.errors import NotSupported
from sharding.sql.lexer import TOKEN, unescape_mysql_string
from sharding.sql.parse import mysql_syntax_error

__all__ = ["LoadSpec", "RecordReader", "parse_load_data"]


@dataclass
class LoadSpec:
    filename: str
    table: str
    database: str | None = None
    mode: str = "IGNORE"  # IGNORE | REPLACE | ERROR (LOCAL without a word means IGNORE)
    charset: str | None = None
    field_term: str = "\t"
    enclosed: str = ""
    optionally: bool = False
    escaped: str = "\\"
    line_term: str = "\n"
    line_start: str = ""
    ignore_lines: int = 0
    columns: list[str] | None = None
    local: bool = True
    extra: list[str] = field(default_factory=list)


def _ident(tok: str) -> str:
    return tok[1:-1].replace("``", "`") if tok.startswith("`") else tok


def parse_load_data(sql: str) -> LoadSpec:
    """The options of a ``LOAD DATA`` statement; 1064 for bad syntax, 1235 for what is
    not offered."""
    toks = [
        (m.lastgroup or "", m.group(), m.start())
        for m in TOKEN.finditer(sql)
        if m.lastgroup not in ("ws", "comment")
    ]
    while toks and toks[-1][1] == ";":
        toks.pop()
    pos = 0

    def word() -> str:
        return toks[pos][1].upper() if pos < len(toks) and toks[pos][0] == "ident" else ""

    def expect(*words: str) -> None:
        nonlocal pos
        for w in words:
            if word() != w:
                raise mysql_syntax_error(
                    sql, toks[pos][2] if pos < len(toks) else len(sql), f"{w} expected"
                )
            pos += 1

    def string() -> str:
        nonlocal pos
        if pos >= len(toks) or toks[pos][0] != "str":
            raise mysql_syntax_error(
                sql, toks[pos][2] if pos < len(toks) else len(sql), "string expected"
            )
        pos += 1
        return unescape_mysql_string(toks[pos - 1][1])

    expect("LOAD")
    if word() == "XML":
        raise NotSupported("LOAD XML on the sharding coordinator (use LOAD DATA LOCAL INFILE)")
    expect("DATA")
    if word() in ("LOW_PRIORITY", "CONCURRENT"):
        pos += 1
    local = word() == "LOCAL"
    if local:
        pos += 1
    expect("INFILE")
    filename = string()
    spec = LoadSpec(filename=filename, table="", local=local, mode="IGNORE" if local else "ERROR")
    if word() in ("REPLACE", "IGNORE"):
        spec.mode = word()
        pos += 1
    expect("INTO", "TABLE")
    if pos >= len(toks) or toks[pos][0] not in ("ident", "bq"):
        raise mysql_syntax_error(
            sql, toks[pos][2] if pos < len(toks) else len(sql), "table expected"
        )
    spec.table = _ident(toks[pos][1])
    pos += 1
    if pos + 1 < len(toks) and toks[pos][1] == "." and toks[pos + 1][0] in ("ident", "bq"):
        spec.database, spec.table = spec.table, _ident(toks[pos + 1][1])
        pos += 2
    if word() == "PARTITION":
        raise NotSupported("LOAD DATA ... PARTITION on the sharding coordinator")
    if word() == "CHARACTER":
        expect("CHARACTER", "SET")
        if pos >= len(toks):
            raise mysql_syntax_error(sql, len(sql), "character set expected")
        spec.charset = _ident(toks[pos][1]).strip("'\"").lower()
        pos += 1
    if word() in ("FIELDS", "COLUMNS"):
        pos += 1
        seen = False
        while True:
            if word() == "TERMINATED":
                expect("TERMINATED", "BY")
                spec.field_term = string()
            elif word() in ("OPTIONALLY", "ENCLOSED"):
                if word() == "OPTIONALLY":
                    spec.optionally = True
                    pos += 1
                expect("ENCLOSED", "BY")
                spec.enclosed = string()
            elif word() == "ESCAPED":
                expect("ESCAPED", "BY")
                spec.escaped = string()
            else:
                break
            seen = True
        if not seen:
            raise mysql_syntax_error(
                sql, toks[pos][2] if pos < len(toks) else len(sql), "field option expected"
            )
    if word() == "LINES":
        pos += 1
        seen = False
        while True:
            if word() == "TERMINATED":
                expect("TERMINATED", "BY")
                spec.line_term = string()
            elif word() == "STARTING":
                expect("STARTING", "BY")
                spec.line_start = string()
            else:
                break
            seen = True
        if not seen:
            raise mysql_syntax_error(
                sql, toks[pos][2] if pos < len(toks) else len(sql), "line option expected"
            )
    if word() == "IGNORE":
        pos += 1
        if pos >= len(toks) or toks[pos][0] != "num" or not toks[pos][1].isdigit():
            raise mysql_syntax_error(
                sql, toks[pos][2] if pos < len(toks) else len(sql), "number expected"
            )
        spec.ignore_lines = int(toks[pos][1])
        pos += 1
        if word() not in ("LINES", "ROWS"):
            raise mysql_syntax_error(
                sql, toks[pos][2] if pos < len(toks) else len(sql), "LINES expected"
            )
        pos += 1
    if pos < len(toks) and toks[pos][1] == "(":
        pos += 1
        cols: list[str] = []
        while pos < len(toks) and toks[pos][1] != ")":
            kind, text = toks[pos][0], toks[pos][1]
            if kind == "ident" and text.startswith("@"):
                raise NotSupported(
                    "LOAD DATA with user variables in the column list on the sharding coordinator"
                )
            if kind in ("ident", "bq"):
                cols.append(_ident(text))
            elif text != ",":
                raise mysql_syntax_error(sql, toks[pos][2], "column expected")
            pos += 1
        if pos >= len(toks):
            raise mysql_syntax_error(sql, len(sql), "')' expected")
        pos += 1
        spec.columns = cols
    if word() == "SET":
        raise NotSupported("LOAD DATA ... SET on the sharding coordinator (load, then UPDATE)")
    if pos < len(toks):
        raise mysql_syntax_error(sql, toks[pos][2], "unexpected text")
    if not spec.local:
        raise NotSupported(
            "LOAD DATA INFILE (a file on the server) on the sharding coordinator; "
            "use LOAD DATA LOCAL INFILE (the client sends the file)"
        )
    if not spec.field_term and not spec.enclosed:
        raise NotSupported("LOAD DATA with fixed-width rows (empty FIELDS TERMINATED BY)")
    if not spec.line_term:
        raise NotSupported("LOAD DATA with an empty LINES TERMINATED BY")
    return spec


_UNESCAPE = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}

Record = list[str | None]


class RecordReader:
    """Cuts file text into records, incrementally: :meth:`feed` takes the next piece
    and returns the records it completed; :meth:`finish` the last one (a file need not
    end with the line terminator)."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self._buf = ""
        self._skip = spec.ignore_lines
        self.lines = 0  # records read (after IGNORE n LINES)

    def feed(self, text: str) -> list[Record]:
        self._buf += text
        return self._drain(final=False)

    def finish(self) -> list[Record]:
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> list[Record]:
        out: list[Record] = []
        s = self._buf
        pos = 0
        n = len(s)
        while pos < n:
            got = self._record(s, pos, final)
            if got is None:
                break
            rec, pos = got
            if rec is None:
                continue  # a line without the STARTING BY prefix
            if self._skip:
                self._skip -= 1
                continue
            out.append(rec)
        self._buf = s[pos:]
        self.lines += len(out)
        return out

    def _record(self, s: str, pos: int, final: bool) -> tuple[Record | None, int] | None:
        """The record at ``pos`` and where the next starts; None: needs more text."""
        sp = self.spec
        lt, enc, esc = sp.line_term, sp.enclosed, sp.escaped
        if sp.line_start:
            at = s.find(sp.line_start, pos)
            end = s.find(lt, pos)
            if at < 0 or (end >= 0 and end < at):
                if end < 0:
                    return (None, len(s)) if final else None
                return None, end + len(lt)
            pos = at + len(sp.line_start)
        # Fast path: a line with no escape or enclosure character in it.
        end = s.find(lt, pos)
        if end >= 0:
            line = s[pos:end]
            if (not esc or esc not in line) and (not enc or enc not in line):
                return self._plain(line), end + len(lt)
        elif not final:
            return None
        return self._slow(s, pos, final)

    def _plain(self, line: str) -> Record:
        fields: Record = list(line.split(self.spec.field_term)) if self.spec.field_term else [line]
        if self.spec.enclosed:
            return [None if f == "NULL" else f for f in fields]
        return fields

    def _slow(self, s: str, pos: int, final: bool) -> tuple[Record, int] | None:
        sp = self.spec
        lt, ft, enc, esc = sp.line_term, sp.field_term, sp.enclosed, sp.escaped
        n = len(s)
        fields: Record = []
        i = pos
        while True:
            buf: list[str] = []
            is_null = False
            if enc and s.startswith(enc, i):
                i += len(enc)
                while True:
                    if i >= n:
                        if not final:
                            return None
                        fields.append("".join(buf))
                        return fields, n
                    c = s[i]
                    if esc and c == esc:
                        if i + 1 >= n and not final:
                            return None
                        nxt = s[i + 1] if i + 1 < n else ""
                        buf.append(_UNESCAPE.get(nxt, nxt))
                        i += 2
                        continue
                    if s.startswith(enc, i):
                        j = i + len(enc)
                        if s.startswith(enc, j):
                            buf.append(enc)
                            i = j + len(enc)
                            continue
                        if ft and s.startswith(ft, j):
                            fields.append("".join(buf))
                            i = j + len(ft)
                            break
                        if s.startswith(lt, j):
                            fields.append("".join(buf))
                            return fields, j + len(lt)
                        if j >= n:
                            if not final:
                                return None
                            fields.append("".join(buf))
                            return fields, n
                        buf.append(enc)
                        i = j
                        continue
                    buf.append(c)
                    i += 1
                continue
            start = i
            while True:
                if i >= n:
                    if not final:
                        return None
                    fields.append(None if is_null else self._bare("".join(buf)))
                    return fields, n
                if esc and s[i] == esc:
                    if i + 1 >= n and not final:
                        return None
                    nxt = s[i + 1] if i + 1 < n else ""
                    if nxt == "N" and i == start:
                        is_null = True
                    buf.append(_UNESCAPE.get(nxt, nxt))
                    i += 2
                    continue
                if ft and s.startswith(ft, i):
                    fields.append(
                        None if is_null and "".join(buf) == "N" else self._bare("".join(buf))
                    )
                    i += len(ft)
                    break
                if s.startswith(lt, i):
                    fields.append(
                        None if is_null and "".join(buf) == "N" else self._bare("".join(buf))
                    )
                    return fields, i + len(lt)
                buf.append(s[i])
                i += 1

    def _bare(self, value: str) -> str | None:
        return None if self.spec.enclosed and value == "NULL" else value


def shape_rows(
    records: Sequence[Record], width: int, first_line: int
) -> tuple[list[Record], list[tuple[str, int, str]]]:
    """Records fitted to ``width`` columns, and MariaDB's warnings for the ones that did
    not fit (1261 too few fields: the rest take their defaults; 1262 too many)."""
    rows: list[Record] = []
    notes: list[tuple[str, int, str]] = []
    for k, rec in enumerate(records):
        line = first_line + k
        if len(rec) < width:
            # One warning per missing column, as MariaDB gives.
            note = ("Warning", 1261, f"Row {line} doesn't contain data for all columns")
            notes.extend([note] * (width - len(rec)))
        elif len(rec) > width:
            notes.append(
                (
                    "Warning",
                    1262,
                    f"Row {line} was truncated; it contained more data than there were input columns",
                )
            )
            rec = rec[:width]
        rows.append(rec)
    return rows, notes
