"""The client's character set: statement bytes in, result text out.

MySQL does not require a statement to be valid UTF-8. A client says which character
set its statements are written in (the handshake's collation id, ``SET NAMES``,
``character_set_client``), and string literals are byte strings in that set: real
drivers put raw bytes into the text (mysqlclient and PyMySQL send a binary parameter
as ``_binary'<raw bytes>'``, a latin1 client sends latin1, a dump carries raw BLOB
bytes). The coordinator's lexer, sqlglot and the shards' connections work on ``str``
(the shard connections speak utf8mb4), so:

* :func:`decode_statement` decodes the bytes with the client's character set, keeping
  bytes that are not valid in it as surrogate escapes (U+DC80..U+DCFF, Python's
  ``surrogateescape``), so the statement can still be lexed and parsed;
* a string literal whose *bytes* matter and would not survive the trip as text — one
  holding surrogate-escaped bytes, one with a character set introducer (``_binary'é'``
  from a latin1 client is the one byte E9, not UTF-8's C3 A9), or a non-ASCII value
  of an INSERT/REPLACE/UPDATE/DELETE from a client whose character set is not UTF-8 —
  is rewritten as ``_<charset> X'<hex of its bytes>'``: a hex literal with the same
  introducer is the same string, and a hex literal has no escapes, so every shard stores exactly what
  MariaDB stores for the client's bytes (``_latin1 X'E9'`` is ``é`` in a utf8mb4 column,
  the byte E9 in a BLOB). The INSERT path reads such a shard-key value as its text
  (``sharding.sql.insert.value_of``), so routing agrees with other clients'. Literals
  of other statements (SELECT: a selected literal names its column; DDL) from such a
  client stay text: their *characters* are what the client meant. Gap: a SELECT from
  a latin1 client comparing a BLOB with a non-ASCII plain literal compares UTF-8 bytes;
* :func:`result_encoder` encodes result text in ``character_set_results`` (NULL or
  ``binary``: unchanged, as MySQL sends it).

MySQL's ``latin1`` is Windows-1252 with the five bytes cp1252 leaves undefined mapped
to the C1 controls of the same code (as MySQL's own table does), so every byte
round-trips; Python's ``latin-1`` would store 0x80 as U+0080 instead of ``€``.

Caveat: escapes are read as in the default ``sql_mode``; a surrogate-carrying literal
under ``NO_BACKSLASH_ESCAPES`` that contains a backslash is read with escapes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sharding.errors import ShardgateError
from sharding.sql.lexer import TOKEN, unescape_mysql_string

__all__ = [
    "charset_of_collation_id",
    "decode_statement",
    "encode_text",
    "python_codec",
    "result_encoder",
]

_UTF8 = frozenset({"utf8", "utf8mb3", "utf8mb4"})

#: MySQL character set → Python codec (MySQL latin1 is handled by its own table).
_CODECS = {
    "utf8": "utf-8",
    "utf8mb3": "utf-8",
    "utf8mb4": "utf-8",
    "binary": "utf-8",  # bytes as they are; text that is UTF-8 stays readable
    "ascii": "ascii",
    "latin2": "iso8859_2",
    "latin5": "iso8859_9",
    "latin7": "iso8859_13",
    "greek": "iso8859_7",
    "hebrew": "iso8859_8",
    "cp1250": "cp1250",
    "cp1251": "cp1251",
    "cp1256": "cp1256",
    "cp1257": "cp1257",
    "cp850": "cp850",
    "cp852": "cp852",
    "cp866": "cp866",
    "koi8r": "koi8_r",
    "koi8u": "koi8_u",
    "macroman": "mac_roman",
    "sjis": "shift_jis",
    "cp932": "cp932",
    "ujis": "euc_jp",
    "eucjpms": "euc_jp",
    "gbk": "gbk",
    "gb2312": "gb2312",
    "big5": "big5",
    "euckr": "euc_kr",
    "tis620": "tis_620",
    "armscii8": "utf-8",
}


def _latin1_tables() -> tuple[dict[int, str], dict[int, int]]:
    decode: dict[int, str] = {}
    for b in range(0x80, 0xA0):
        try:
            ch = bytes((b,)).decode("cp1252")
        except UnicodeDecodeError:
            ch = chr(b)  # undefined in cp1252: MySQL maps it to the C1 control
        decode[b] = ch
    encode = {ord(ch): b for b, ch in decode.items()}
    return decode, encode


_LATIN1_DECODE, _LATIN1_ENCODE = _latin1_tables()
_LATIN1_DECODE_TABLE = str.maketrans({chr(b): ch for b, ch in _LATIN1_DECODE.items()})


def python_codec(charset: str) -> str:
    """The Python codec reading text of a MySQL character set (UTF-8 when unknown)."""
    return _CODECS.get(charset.lower(), "utf-8")


def charset_of_collation_id(collation_id: int) -> str:
    """The character set of a handshake's collation id (utf8mb4 when unknown)."""
    return _charset_by_collation_id().get(collation_id, "utf8mb4")


@functools.cache
def _charset_by_collation_id() -> dict[int, str]:
    from sharding.charsets_data import COLLATIONS

    out: dict[int, str] = {}
    for charset, cid in COLLATIONS.values():
        out.setdefault(cid, str(charset))  # the first one listed, as the scan found
    return out


def decode_bytes(raw: bytes, charset: str) -> str:
    """``raw`` read in ``charset``; invalid bytes become surrogate escapes."""
    cs = charset.lower()
    if cs == "latin1":
        text = raw.decode("latin-1")
        return text.translate(_LATIN1_DECODE_TABLE) if not text.isascii() else text
    return raw.decode(python_codec(cs), "surrogateescape")


def encode_text(text: str, charset: str, errors: str = "surrogateescape") -> bytes:
    """``text`` in ``charset``; surrogate escapes become their bytes again.

    With ``errors="replace"`` a character the set lacks becomes ``?`` (results)."""
    cs = charset.lower()
    if cs == "latin1":
        out = bytearray()
        for ch in text:
            o = ord(ch)
            if o < 0x80 or 0xA0 <= o <= 0xFF:
                out.append(o)
            elif o in _LATIN1_ENCODE:
                out.append(_LATIN1_ENCODE[o])
            elif 0xDC80 <= o <= 0xDCFF and errors == "surrogateescape":
                out.append(o - 0xDC00)
            elif errors == "strict":
                raise UnicodeEncodeError("latin1", text, 0, len(text), "not in latin1")
            else:
                out.append(0x3F)
        return bytes(out)
    codec = python_codec(cs)
    if errors == "replace":
        # Surrogate escapes are bytes the shard returned: send them back unchanged.
        return (
            text.encode(codec, "surrogateescape")
            if _only_escapes(text, codec)
            else text.encode(codec, "replace")
        )
    return text.encode(codec, errors)


def _only_escapes(text: str, codec: str) -> bool:
    try:
        text.encode(codec, "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def _has_escapes(text: str) -> bool:
    return any(0xDC80 <= ord(ch) <= 0xDCFF for ch in text)


def decode_statement(raw: bytes, charset: str) -> str:
    """The statement ``raw`` as text the coordinator can lex, with every literal whose
    bytes would not survive as text rewritten to a hex literal (module docstring)."""
    cs = charset.lower()
    if cs in _UTF8 or cs == "binary":
        try:
            return raw.decode("utf-8")  # the common case: nothing to rewrite
        except UnicodeDecodeError:
            pass
    text = decode_bytes(raw, cs)
    if text.isascii():
        return text
    return _rewrite_literals(text, cs)


_STORING = frozenset({"INSERT", "REPLACE", "UPDATE", "DELETE"})


def _rewrite_literals(text: str, cs: str) -> str:
    utf8_client = cs in _UTF8
    # The values of a write are stored or compared with stored values: from a client
    # whose character set is not UTF-8 they keep their bytes and character set
    # (``_latin1 X'E9'`` is ``é`` in a utf8mb4 column and the byte E9 in a BLOB, as
    # MariaDB reads them).
    first = TOKEN.match(text.lstrip())
    storing = (
        not utf8_client
        and cs != "binary"
        and first is not None
        and first.group().upper() in _STORING
    )
    out: list[str] = []
    pending_intro: tuple[int, str] | None = None  # (index in out, charset) of ``_cs``
    prev = ""
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        tok = m.group()
        if kind == "ws" or kind == "comment":
            if kind == "comment" and _has_escapes(tok) and not tok.startswith(("/*!", "/*M!")):
                # Bytes in a comment mean nothing (MariaDB ignores them): keep the text
                # sendable to the shards.
                tok = "".join("?" if 0xDC80 <= ord(ch) <= 0xDCFF else ch for ch in tok)
            out.append(tok)
            continue
        intro: str | None = None
        literal: str | None = None
        if kind == "prefixed" and tok.startswith("_"):
            q = tok.index("'")
            intro, literal = tok[1:q], tok[q:]
        elif kind == "str":
            literal = tok
            if pending_intro is not None:
                intro = pending_intro[1]
        if literal is not None and not (
            prev == "AS" and intro is None and not _has_escapes(literal)
        ):
            escaped = _has_escapes(literal)
            if escaped or (
                not literal.isascii() and ((intro is not None and not utf8_client) or storing)
            ):
                data = encode_text(unescape_mysql_string(literal), cs)
                target = intro or ("binary" if utf8_client or cs == "binary" else cs)
                if pending_intro is not None and kind == "str":
                    # ``_binary '..'`` (introducer, space, string): drop the old pieces.
                    del out[pending_intro[0] :]
                out.append(f"_{target} X'{data.hex().upper()}'")
                pending_intro = None
                prev = ""
                continue
        pending_intro = None
        if _has_escapes(tok):
            # Bytes not valid in the client's character set outside a string (a name):
            # MariaDB's error for an invalid character string.
            start = next(i for i, ch in enumerate(tok) if 0xDC80 <= ord(ch) <= 0xDCFF)
            shown = "".join(
                f"\\x{ord(ch) - 0xDC00:02X}" if 0xDC80 <= ord(ch) <= 0xDCFF else ch
                for ch in tok[start:].rstrip("`")
            )
            raise ShardgateError(
                f"Invalid {cs} character string: '{shown[:64]}'", code=1300, sqlstate="HY000"
            )
        if kind == "ident" and tok.startswith("_") and len(tok) > 1:
            pending_intro = (len(out), tok[1:])
        prev = tok.upper() if kind == "ident" else tok
        out.append(tok)
    return "".join(out)


def result_encoder(charset: str | None) -> Callable[[str], bytes] | None:
    """How to encode result text for ``character_set_results``; None: as UTF-8 (the
    common case, the row encoders' own)."""
    if charset is None:
        return None
    cs = charset.lower()
    if cs in _UTF8 or cs == "binary" or (cs not in _CODECS and cs != "latin1"):
        return None
    return lambda s: encode_text(s, cs, "replace")
