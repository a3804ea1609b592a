"""File names as crawl stores them: bytes-safe, one line, or refused with a reason.

POSIX names are bytes; Python hands them over decoded with `surrogateescape`, so a name that is not
valid UTF-8 holds lone surrogates, which Parquet (UTF-8 only) cannot store -- written as is, one
such name failed the whole shard. And a name may hold a newline or another control character,
which would break the one-line path comment topo-sort puts above each file in a training sample.

Crawl therefore refuses both kinds of name per file (a rejected row with reason `undecodable_name`
or `control_character_in_name`, and an error naming the file), and shows such a name in its
escaped form: undecodable bytes as `\\xNN`, control characters as Python escapes (`\\n`, `\\x1b`,
`\\u2028`). A valid name is its own escaped form.
"""

from __future__ import annotations

import unicodedata

# Cc: C0/C1 controls and DEL; Zl/Zp: U+2028/U+2029, which editors and tokenizers treat as line breaks.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def _refused(c: str) -> bool:
    return unicodedata.category(c) in _REFUSED_CATEGORIES


def name_problem(name: str) -> str | None:
    """The skip reason for a file or folder name (or a repo-relative path), or None if it is fine."""
    if name.isascii() and name.isprintable():  # the usual name, decided in C: no surrogate, no Cc
        return None
    if any("\ud800" <= c <= "\udfff" for c in name):
        return "undecodable_name"
    if any(_refused(c) for c in name):
        return "control_character_in_name"
    return None


def escape_name(name: str) -> str:
    """Printable, valid UTF-8 text for any name: the name itself when `name_problem` is None."""
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file system decoding produces: escape it as a code point
        text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c.encode("unicode_escape").decode("ascii") if _refused(c) else c for c in text)
