"""The client character-set table names only codecs this Python has.

(Checked here, not at import: looking up every codec loaded ~30 codec modules into
every ``shardgate serve`` start-up.)
"""

from __future__ import annotations

import codecs

from sharding import client_charset


def test_every_charset_has_a_codec() -> None:
    names = set(client_charset._CODECS.values())
    assert names  # the table is not empty
    for name in sorted(names):
        codecs.lookup(name)  # LookupError for a codec this Python lacks
