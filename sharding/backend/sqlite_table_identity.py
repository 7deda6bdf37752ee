"""Shard-neutral keys for the SQLite shards' per-statement caches.

A scatter over 1024 shard files sends 1024 texts that differ only in the schema that
qualifies each table (``FROM "db_0003"."t" AS t``, ``FROM "db_0017"."t" AS t``). The
SQLite backend's per-statement work that depends only on the tables' definitions (the
decimal-results plan: a sqlglot parse and a ``PRAGMA table_info`` per table) was keyed
by that text, so it ran once per shard for every new statement — a fifth of a 1024-shard
scatter's CPU. :func:`neutral_key` replaces each schema-qualified table by the identity
of its *definition* (the ``CREATE TABLE`` text in that schema's ``sqlite_master``): the
shards of one logical table share a key, and two tables share one only when their
definitions are the same text (then whatever is derived from the definitions is the
same too).

Identities are cached by (file, table) and dropped by :func:`forget` (the backend calls
it after any DDL, as it does for the other caches); the attached schemas' files are read
once per connection until the backend attaches or detaches one
(:func:`schemas_changed`). A schema without a file (``temp``, an in-memory database: its
tables belong to one connection) or a table not found keeps its own text in the key —
the old, per-text behaviour. Written by hand: a lookup table over SQLite's own catalog,
nothing a library does.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
from collections import OrderedDict

__all__ = [
    "NEUTRAL_KEY_CHARS",
    "TABLE",
    "attached",
    "forget",
    "neutral_key",
    "schemas_changed",
    "unquote",
]

#: Longer texts keep their own key: scanning a megabyte statement for its tables (``re``
#: holds the GIL meanwhile) would cost more than the per-shard work it saves.
NEUTRAL_KEY_CHARS = 8192

#: ``schema.table`` (either part quoted or a bare word), as the shard statements write it.
TABLE = re.compile(r'("(?:[^"]|"")+"|\w+)\s*\.\s*("(?:[^"]|"")+"|\w+)')

_lock = threading.Lock()
#: ``id(raw)`` → (the connection, ``{schema name (lower case): its file}``).
_files: OrderedDict[int, tuple[sqlite3.Connection, dict[str, str]]] = OrderedDict()
_CONNECTIONS = 256
#: (file, table name lower case) → the identity of its definition; and definition → identity.
_ids: dict[tuple[str, str], int] = {}
_by_text: dict[str, int] = {}
_counter = itertools.count(1)


def unquote(name: str) -> str:
    """``"a""b"`` → ``a"b``; a bare word as it is."""
    if name.startswith('"'):
        return name[1:-1].replace('""', '"')
    return name


def forget() -> None:
    """Drop the definitions' identities (a table was created, altered or dropped)."""
    with _lock:
        _ids.clear()
        _by_text.clear()


def schemas_changed(raw: sqlite3.Connection) -> None:
    """``raw`` attached or detached a database: read its schema list again."""
    with _lock:
        _files.pop(id(raw), None)


def attached(raw: sqlite3.Connection) -> dict[str, str]:
    """The schemas ``raw`` has attached (lower case) → their files (``""``: none)."""
    with _lock:
        entry = _files.get(id(raw))
        if entry is not None and entry[0] is raw:
            _files.move_to_end(id(raw))
            return entry[1]
    files = {str(row[1]).lower(): str(row[2] or "") for row in raw.execute("PRAGMA database_list")}
    with _lock:
        _files[id(raw)] = (raw, files)
        while len(_files) > _CONNECTIONS:
            _files.popitem(last=False)
    return files


def _identity(raw: sqlite3.Connection, schema: str, file: str, table: str) -> int | None:
    key = (file, table.lower())
    with _lock:
        found = _ids.get(key)
    if found is not None:
        return found
    s = schema.replace('"', '""')
    row = raw.execute(
        f"SELECT sql FROM \"{s}\".sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE",
        (table,),
    ).fetchone()
    if row is None or not row[0]:
        return None
    with _lock:
        ident = _by_text.get(str(row[0]))
        if ident is None:
            # Never reused, also after forget(): a key made before a DDL cannot name
            # another definition after it.
            ident = _by_text[str(row[0])] = next(_counter)
        _ids[key] = ident
    return ident


def neutral_key(raw: sqlite3.Connection, text: str) -> str:
    """``text`` with each ``schema.table`` of an attached file replaced by its
    definition's identity (module docstring); other names as they are."""

    def one(m: re.Match[str]) -> str:
        schema = unquote(m.group(1))
        file = files.get(schema.lower())
        if not file:
            return m.group()  # alias.column, temp or in-memory: its own text
        ident = _identity(raw, schema, file, unquote(m.group(2)))
        return m.group() if ident is None else f"\x00{ident}\x00"

    files = attached(raw)
    return TABLE.sub(one, text)
