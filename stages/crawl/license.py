"""Find a repository's licence file and name its licence (SPDX id) from the text.

Detection is deliberately conservative: a licence is named only when the text carries that
licence's distinctive wording, and ``None`` comes back when nothing matches *or* when two
different licences match (dual-licence files, concatenated texts, unknown variants).  A wrong
licence is worse than no licence for a data set that is filtered on licences.

The GNU licences are told apart by their title lines ("GNU GENERAL PUBLIC LICENSE Version 3,
29 June 2007" ...), which also keeps GPL-3.0 from firing on the LGPL/AGPL texts that quote the
GPL.  A licence *file* cannot say whether the project chose "or any later version" (that is
stated in source headers), so the text's own version is reported as ``*-only``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Preference order for find_license_file: LICENSE before LICENCE before COPYING before
# UNLICENSE, and within each the bare name before the suffixed ones.  COPYING.LESSER is left
# out on purpose: LGPL projects ship it next to COPYING (the GPL text) and it is not the
# project's sole licence text.
_STEMS = ("LICENSE", "LICENCE", "COPYING", "UNLICENSE")
_SUFFIXES = ("", ".txt", ".md", ".rst", ".markdown")
LICENSE_FILENAMES: tuple[str, ...] = tuple(stem + suffix for stem in _STEMS for suffix in _SUFFIXES)
_RANK = {name.lower(): rank for rank, name in enumerate(LICENSE_FILENAMES)}


def find_license_file(names: Iterable[str]) -> str | None:
    """The licence file among a repository's root-level file names, or None.

    Matching is case-insensitive; names with a path separator are not root-level and are
    ignored.  Ties (``LICENSE`` and ``license`` on a case-sensitive file system) are broken by
    the name itself so the answer never depends on listing order.
    """
    candidates = [n for n in names if "/" not in n and "\\" not in n and n.lower() in _RANK]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (_RANK[n.lower()], n))


def _normalise(text: str) -> str:
    # Lower case, and every run of non-alphanumerics becomes one space: line wrapping,
    # indentation, comment markers ('#', ' * '), punctuation and quote styles stop mattering.
    # Version numbers become "2 0", consistently in both the texts and the phrases below.
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


# SPDX id -> (alternatives, forbidden).  The licence matches when every phrase of at least one
# alternative occurs and no forbidden phrase does.  Forbidden phrases mark the close relatives
# we do not name (X11, BSD-4-Clause), so a relative gives None instead of a wrong id.
_RULES: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]] = {
    "MIT": (
        ((
            "permission is hereby granted, free of charge, to any person obtaining a copy of "
            "this software and associated documentation files",
            "the above copyright notice and this permission notice shall be included in all "
            "copies or substantial portions of the software",
        ),),
        ("shall not be used in advertising",),  # X11 and similar
    ),
    "Apache-2.0": (
        (
            ("apache license", "version 2.0, january 2004"),
            ("licensed under the apache license, version 2.0",),
        ),
        (),
    ),
    "GPL-2.0-only": ((("gnu general public license version 2, june 1991",),), ()),
    "GPL-3.0-only": ((("gnu general public license version 3, 29 june 2007",),), ()),
    "LGPL-2.1-only": ((("gnu lesser general public license version 2.1, february 1999",),), ()),
    "LGPL-3.0-only": ((("gnu lesser general public license version 3, 29 june 2007",),), ()),
    "AGPL-3.0-only": ((("gnu affero general public license version 3, 19 november 2007",),), ()),
    "BSD-3-Clause": (
        ((
            "redistribution and use in source and binary forms, with or without modification, "
            "are permitted provided that the following conditions are met",
            "redistributions of source code must retain the above copyright notice",
            "may be used to endorse or promote products derived from this software without "
            "specific prior written permission",
        ),),
        ("all advertising materials mentioning features",),  # BSD-4-Clause
    ),
    "BSD-2-Clause": (
        ((
            "redistribution and use in source and binary forms, with or without modification, "
            "are permitted provided that the following conditions are met",
            "redistributions of source code must retain the above copyright notice",
            "redistributions in binary form must reproduce the above copyright notice",
        ),),
        ("endorse or promote products", "all advertising materials mentioning features"),
    ),
    "MPL-2.0": (
        (("mozilla public license version 2.0",), ("mozilla public license, v. 2.0",)),
        (),
    ),
    "ISC": (
        ((
            "permission to use, copy, modify, and/or distribute this software for any purpose "
            "with or without fee is hereby granted, provided that the above copyright notice "
            "and this permission notice appear in all copies",
        ),),
        (),
    ),
    "Unlicense": (
        (("this is free and unencumbered software released into the public domain",),),
        (),
    ),
    "PSF-2.0": (
        (
            ("python software foundation license version 2",),
            ("this license agreement is between the python software foundation",),
        ),
        (),
    ),
    "BSL-1.0": ((("boost software license - version 1.0",),), ()),
    "EPL-2.0": (
        (("eclipse public license - v 2.0",), ("eclipse public license version 2.0",)),
        (),
    ),
    "Zlib": (
        ((
            "permission is granted to anyone to use this software for any purpose, including "
            "commercial applications, and to alter it and redistribute it freely",
            "altered source versions must be plainly marked as such",
        ),),
        (),
    ),
    "CC0-1.0": (
        (("cc0 1.0 universal",), ("creativecommons.org/publicdomain/zero/1.0",)),
        (),
    ),
}

# Phrases normalised once, the same way as the texts they are searched in.
_COMPILED = {
    spdx: (
        tuple(tuple(_normalise(p) for p in alt) for alt in alternatives),
        tuple(_normalise(p) for p in forbidden),
    )
    for spdx, (alternatives, forbidden) in _RULES.items()
}


def _matches(text: str, alternatives: tuple[tuple[str, ...], ...], forbidden: tuple[str, ...]) -> bool:
    # Padding with spaces makes each phrase match whole words only ("version 2 0" must not
    # match inside "version 2 01").
    padded = f" {text} "
    if any(f" {p} " in padded for p in forbidden):
        return False
    return any(all(f" {p} " in padded for p in alt) for alt in alternatives)


def detect_license(text: str) -> str | None:
    """The SPDX id of the licence in ``text``, or None if unclear or more than one matches."""
    normalised = _normalise(text)
    found = [spdx for spdx, (alts, forbidden) in _COMPILED.items() if _matches(normalised, alts, forbidden)]
    return found[0] if len(found) == 1 else None
