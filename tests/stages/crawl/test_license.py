"""Tests for stages.crawl.license: licence-file choice and SPDX detection from real texts."""

import sysconfig
from pathlib import Path

import pytest

from stages.crawl.license import LICENSE_FILENAMES, detect_license, find_license_file

MIT = """MIT License

Copyright (c) 2023 Jane Doe

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

   1. Definitions.

      "License" shall mean the terms and conditions for use, reproduction,
      and distribution as defined by Sections 1 through 9 of this document.
"""

# The per-file notice, as found at the top of source files.
APACHE_NOTICE = """# Copyright 2020 Google LLC
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
"""

GPL3 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The GNU General Public License is a free, copyleft license for
software and other kinds of works.
"""

GPL2 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 2, June 1991

 Copyright (C) 1989, 1991 Free Software Foundation, Inc.,
 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The licenses for most software are designed to take away your
freedom to share and change it.  By contrast, the GNU General Public
License is intended to guarantee your freedom to share and change free
software--to make sure the software is free for all its users.
"""

LGPL3 = """                   GNU LESSER GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.


  This version of the GNU Lesser General Public License incorporates
the terms and conditions of version 3 of the GNU General Public
License, supplemented by the additional permissions listed below.
"""

AGPL3 = """                    GNU AFFERO GENERAL PUBLIC LICENSE
                       Version 3, 19 November 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.
"""

BSD3 = """Copyright (c) 2015, The Authors
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.
"""

BSD2 = BSD3.split("3. Neither")[0]

BSD4_CLAUSE = """
3. All advertising materials mentioning features or use of this software
   must display the following acknowledgement: This product includes
   software developed by the University of California, Berkeley.
"""

ISC = """ISC License

Copyright (c) 2004-2010 by Internet Systems Consortium, Inc. ("ISC")

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.
"""

UNLICENSE = """This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or
distribute this software, either in source code form or as a compiled
binary, for any purpose, commercial or non-commercial, and by any
means.
"""

MPL2_NOTICE = """/* This Source Code Form is subject to the terms of the Mozilla Public
 * License, v. 2.0. If a copy of the MPL was not distributed with this
 * file, You can obtain one at http://mozilla.org/MPL/2.0/. */
"""

ZLIB = """This software is provided 'as-is', without any express or implied
warranty.  In no event will the authors be held liable for any damages
arising from the use of this software.

Permission is granted to anyone to use this software for any purpose,
including commercial applications, and to alter it and redistribute it
freely, subject to the following restrictions:

1. The origin of this software must not be misrepresented; you must not
   claim that you wrote the original software.
2. Altered source versions must be plainly marked as such, and must not be
   misrepresented as being the original software.
"""

BSL = """Boost Software License - Version 1.0 - August 17th, 2003

Permission is hereby granted, free of charge, to any person or organization
obtaining a copy of the software and accompanying documentation covered by
this license (the "Software") to use, reproduce, display, distribute,
execute, and transmit the Software, and to prepare derivative works of the
Software, and to permit third-parties to whom the Software is furnished to
do so, all subject to the following:
"""

EPL2 = """Eclipse Public License - v 2.0

    THE ACCOMPANYING PROGRAM IS PROVIDED UNDER THE TERMS OF THIS ECLIPSE
    PUBLIC LICENSE ("AGREEMENT"). ANY USE, REPRODUCTION OR DISTRIBUTION
    OF THE PROGRAM CONSTITUTES RECIPIENT'S ACCEPTANCE OF THIS AGREEMENT.
"""

CC0 = """Creative Commons Legal Code

CC0 1.0 Universal

    CREATIVE COMMONS CORPORATION IS NOT A LAW FIRM AND DOES NOT PROVIDE
    LEGAL SERVICES.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MIT, "MIT"),
        (APACHE, "Apache-2.0"),
        (APACHE_NOTICE, "Apache-2.0"),
        (GPL3, "GPL-3.0-only"),
        (GPL2, "GPL-2.0-only"),
        (LGPL3, "LGPL-3.0-only"),  # quotes the GPL, but only the LGPL title is there
        (AGPL3, "AGPL-3.0-only"),
        (BSD3, "BSD-3-Clause"),
        (BSD2, "BSD-2-Clause"),
        (ISC, "ISC"),
        (UNLICENSE, "Unlicense"),
        (MPL2_NOTICE, "MPL-2.0"),
        (ZLIB, "Zlib"),
        (BSL, "BSL-1.0"),
        (EPL2, "EPL-2.0"),
        (CC0, "CC0-1.0"),
    ],
)
def test_detect_real_texts(text, expected):
    assert detect_license(text) == expected


def test_detect_ignores_case_and_wrapping():
    squashed = " ".join(MIT.split()).upper()
    assert detect_license(squashed) == "MIT"
    commented = "\n".join("// " + line for line in MIT.splitlines())
    assert detect_license(commented) == "MIT"


@pytest.mark.parametrize(
    "text",
    [
        MIT + "\n\n" + APACHE,  # two licences: never guess
        GPL2 + GPL3,
        BSD3 + BSD4_CLAUSE,  # a relative we do not name
        "All rights reserved. Do not copy.",
        "See the LICENSE file for licensing terms.",
        "",
        # Truncated MIT: the grant without the notice condition (as in MIT-0) is not MIT.
        MIT.split("The above copyright")[0],
    ],
)
def test_unclear_or_ambiguous_is_none(text):
    assert detect_license(text) is None


PYTHON_LICENSE = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"


@pytest.mark.skipif(not PYTHON_LICENSE.exists(), reason=f"{PYTHON_LICENSE} not on this machine")
def test_python_license_file_is_psf():
    assert detect_license(PYTHON_LICENSE.read_text(encoding="utf-8")) == "PSF-2.0"


def test_license_filenames():
    assert {"LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING", "COPYING.txt", "LICENSE.rst"} <= set(
        LICENSE_FILENAMES
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["README.md", "setup.py", "LICENSE"], "LICENSE"),
        (["COPYING", "LICENSE.md"], "LICENSE.md"),  # LICENSE family beats COPYING
        (["LICENSE.txt", "LICENSE"], "LICENSE"),  # exact beats suffixed
        (["license.txt", "COPYING"], "license.txt"),  # case-insensitive
        (["license", "LICENSE"], "LICENSE"),  # tie broken by the name, not the order
        (["LICENSE", "license"], "LICENSE"),
        (["docs/LICENSE", "README"], None),  # not root-level
        (["LICENSE-MIT.txt", "NOTICE"], None),
        ([], None),
    ],
)
def test_find_license_file(names, expected):
    assert find_license_file(names) == expected
