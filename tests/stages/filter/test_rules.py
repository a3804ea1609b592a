"""StarCoder file filter: vectorised rules vs. the per-document reference loop."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from stages.filter import text_stats
from stages.filter.html_text import visible_text
from benchmarks.reference_starcoder import filter_document
from stages.filter.config import StarCoderConfig
from stages.filter.framework import apply_rules
from stages.filter.stage import RULE_SETS
from stages.filter.starcoder import starcoder_rules
from stages.filter.text_stats import compute_text_stats

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def reasons(texts, langs=None, config=None):
    """Vectorised reasons, asserted equal to the reference loop's."""
    config = config or StarCoderConfig()
    if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
        texts = pa.array(texts, type=pa.string())
    if langs is not None and not isinstance(langs, (pa.Array, pa.ChunkedArray)):
        langs = pa.array(langs, type=pa.string())
    result = apply_rules(texts, langs, starcoder_rules(config))
    got = result.reason.to_pylist()
    py_langs = langs.to_pylist() if langs is not None else [None] * len(texts)
    expected = [filter_document(t, lang, config) for t, lang in zip(texts.to_pylist(), py_langs)]
    assert got == expected
    assert result.keep.tolist() == [r is None for r in expected]
    assert sum(result.counts.values()) == int((~result.keep).sum())
    return got


def reason(text, lang=None, config=None):
    return reasons([text], [lang], config)[0]


def ref_stats(s):
    s = s or ""
    lines = s.split("\n")
    if s.endswith("\n"):
        lines.pop()
    lengths = [len(line) for line in lines]
    return len(s), len(lines), max(lengths), sum(lengths), sum(c.isalpha() for c in s)


def assert_stats(texts):
    st = compute_text_stats(texts)
    got = list(zip(*(a.tolist() for a in (st.n_chars, st.n_lines, st.max_line_length, st.sum_line_length, st.n_alpha))))
    assert got == [ref_stats(s) for s in texts.to_pylist()]


def letters(n, width=50):
    """n characters of letters with a newline every `width` characters."""
    return "".join("\n" if i % width == width - 1 else "a" for i in range(n))


# --- rule thresholds ---------------------------------------------------------------


def test_avg_line_length_threshold():
    assert reason("a" * 100) is None
    assert reason("a" * 101) == "avg_line_length"
    assert reason("a" * 100 + "\n" + "a" * 100 + "\n") is None
    assert reason("a" * 101 + "\n" + "a" * 100 + "\n") == "avg_line_length"  # mean 100.5
    # The trailing newline does not add an empty line, a double one does.
    assert reason("a" * 101 + "\n" + "a" * 99 + "\n") is None
    assert reason("a" * 150 + "\n\n") is None  # 2 lines: 150 and 0


def test_max_line_length_threshold():
    assert reason("a" * 1000 + "\n" * 10) is None  # 10 lines, mean exactly 100
    assert reason("a" * 1001 + "\n" * 11) == "max_line_length"
    assert reason("a" * 1000 + "\n" * 10, config=StarCoderConfig(max_line_length=999)) == "max_line_length"


def test_alpha_fraction_threshold():
    assert reason("a" * 25 + "1" * 75) is None
    assert reason("a" * 24 + "1" * 76) == "alpha_fraction"
    assert reason("1" * 75 + "\n" + "b" * 25) == "alpha_fraction"  # 25/101
    assert reason("") == "alpha_fraction"
    assert reason("\n") == "alpha_fraction"


def test_xml_header():
    header = '<?xml version="1.0"?>'
    body = "\n" + letters(300)
    assert reason(header + body) == "xml_header"
    assert reason(header + body, "XSLT") is None
    assert reason(header + body, "xslt") is None
    assert reason(header + body, "XML") == "xml_header"
    assert reason(header + body, None) == "xml_header"
    # "<?xml version=" is 14 characters: starting at 86 it ends at character 100.
    assert reason("a" * 86 + header + body) == "xml_header"
    assert reason("a" * 87 + header + body) is None
    # Characters, not bytes: 86 two-byte letters still leave the header in the window.
    assert reason("é" * 86 + header + body) == "xml_header"
    assert reason("é" * 87 + header + body) is None
    assert reason("<?xml encoding='x'?>" + body) is None


def test_html_visible_text():
    text = "<html><body>\n<p>" + "a" * 100 + "</p>\n</body></html>\n"
    assert len(visible_text(text)) == 100
    assert reason(text, "HTML") is None
    assert reason(text.replace("a" * 100, "a" * 99), "HTML") == "html_visible_text"
    assert reason(text.replace("a" * 100, "a" * 99), "Python") is None

    script = "<script>\n" + "var abc = 1;\n" * 200 + "</script>\n<style>\np { x: y }\n</style>\n"
    assert len(visible_text(script + text)) == 100
    assert reason(script + text, "HTML") == "html_visible_text"  # 100 chars but < 20%
    assert reason(script + text, "JavaScript") is None
    real = "<p>" + "\n".join(["some words"] * 300) + "</p>\n"
    assert reason(script + real, "html") is None

    # Ratio exactly 20%: 100 visible characters out of 500 is kept, out of 501 dropped.
    def padded(total):
        head = "<p>" + "a" * 100 + "</p>\n<!--\n"
        tail = "\n-->\n"
        fill = total - len(head) - len(tail)
        doc = head + letters(fill, width=80) + tail
        assert len(doc) == total and len(visible_text(doc)) == 100
        return doc

    assert reason(padded(500), "HTML") is None
    assert reason(padded(501), "HTML") == "html_visible_text"
    assert visible_text("<p>a &amp; b</p><p>\n  c  </p>") == "a & b c"


def test_json_yaml_size():
    for lang in ("JSON", "YAML", "json"):
        assert reason(letters(49), lang) == "json_yaml_size"
        assert reason(letters(50), lang) is None
        assert reason(letters(5000), lang) is None
        assert reason(letters(5001), lang) == "json_yaml_size"
    assert reason(letters(49), "Python") is None
    assert reason(letters(5001), None) is None


def test_first_failing_rule_wins_and_counts():
    texts = ["1" * 200, "a" * 1001 + "\n" * 11, "1" * 100, '<?xml version="1.0"?>' + letters(100), letters(30), letters(60)]
    langs = ["JSON", "Python", "HTML", "HTML", "YAML", "JSON"]
    got = reasons(texts, langs)
    assert got == ["avg_line_length", "max_line_length", "alpha_fraction", "xml_header", "json_yaml_size", None]
    result = apply_rules(pa.array(texts), pa.array(langs), starcoder_rules())
    assert result.counts == {"avg_line_length": 1, "max_line_length": 1, "alpha_fraction": 1,
                             "xml_header": 1, "html_visible_text": 0, "json_yaml_size": 1}
    assert np.isnan(result.scores["html_visible_text"]["visible_chars"]).all()  # no HTML row survived


# --- Unicode, empty, null, layout ----------------------------------------------------


MULTIBYTE = [
    "中" * 100,  # 100 code points, 300 bytes
    "中" * 101,
    "日本語のテキスト\n" * 20,
    "😀" * 30 + "a" * 9,  # emoji are not alphabetic: 9/39 < 25%
    "é" * 25 + "1" * 75,
    "e\u0301" * 10 + "1" * 30,  # combining accent: a code point, not alphabetic
    "ß\nǅ\n𝔸𝔹\n",
    "Ωmega — “quotes” … " * 5,
    "\u2028line separator is not a newline\r\nCRLF keeps \\r in the line\r\n",
]


def test_multibyte_stats_and_rules():
    arr = pa.array(MULTIBYTE)
    assert_stats(arr)
    got = reasons(arr)
    assert got[0] is None and got[1] == "avg_line_length"
    assert got[3] == "alpha_fraction" and got[4] is None


EDGE = [None, "", "\n", "\n\n", "a", "a\n", "a\nb", "a\nb\n", "\n\na", " ", "\t\n\t"]


def test_empty_null_and_newlines():
    arr = pa.array(EDGE)
    assert_stats(arr)
    st = compute_text_stats(arr)
    assert st.n_lines.tolist() == [1, 1, 1, 2, 1, 1, 2, 2, 3, 1, 2]
    assert st.alpha_fraction[:2].tolist() == [0.0, 0.0]
    got = reasons(arr, [None, "JSON", None, "HTML", None, None, None, None, None, None, "YAML"])
    assert got[0] == got[1] == "alpha_fraction"


def test_nulls_own_bytes():
    # A null slot that still owns bytes in the data buffer must count as empty.
    base = pa.array(["abc", "xyz\nxyz", "q"])
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    arr = pa.Array.from_buffers(pa.string(), 3, [validity, base.buffers()[1], base.buffers()[2]], null_count=1)
    assert arr.to_pylist() == ["abc", None, "q"]
    assert_stats(arr)
    reasons(arr)


def test_sliced_chunked_large_and_dictionary():
    docs = EDGE + MULTIBYTE + [letters(60), "a" * 101, "<?xml version=" + "a" * 50]
    langs = (["JSON", "HTML", None, "XSLT", "YAML"] * 10)[: len(docs)]
    full = pa.array(docs)
    for arr in (full.slice(3), full.slice(5, 9), full.slice(len(docs)), pa.array(docs, pa.large_string()).slice(2, 20)):
        assert_stats(arr)
        reasons(arr)
    chunked = pa.chunked_array([full.slice(0, 7), full.slice(7, 0), full.slice(7)])
    chunked_langs = pa.chunked_array([pa.array(langs[:4]), pa.array(langs[4:])])
    assert_stats(chunked)
    reasons(chunked, chunked_langs)
    reasons(full, pa.array(langs).dictionary_encode())
    reasons(pa.chunked_array([], type=pa.string()), pa.chunked_array([], type=pa.string()))
    reasons(pa.array(docs, pa.string_view()), langs)


def test_rule_identity_and_registry():
    rules = RULE_SETS["starcoder"](StarCoderConfig(max_line_length=10))
    assert [r.key for r in rules] == ["avg_line_length/v1", "max_line_length/v1", "alpha_fraction/v1",
                                      "xml_header/v1", "html_visible_text/v1", "json_yaml_size/v1"]
    assert rules[1].params == {"max_line_length": 10}
    assert rules[4].params == {"min_visible_text_ratio": 0.2, "min_visible_text_chars": 100}
    assert RULE_SETS["starcoder"]({"max_line_length": 5})[1].params == {"max_line_length": 5}
    assert reason("a" * 11, config=StarCoderConfig(max_line_length=10)) == "max_line_length"


def test_alpha_table_matches_str_isalpha():
    table = text_stats._alpha_table()
    assert table.tolist() == [chr(i).isalpha() for i in range(0x110000)]


# --- property test on real files -----------------------------------------------------

EXT_LANG = {".py": "Python", ".html": "HTML", ".json": "JSON", ".xml": "XML", ".xsl": "XSLT",
            ".css": "CSS", ".js": "JavaScript", ".toml": "TOML", ".c": "C", ".h": "C"}


def corpus(n_files=3000, seed=0):
    rng = random.Random(seed)
    paths = sorted(p for p in STDLIB.rglob("*") if p.is_file() and p.suffix not in (".pyc", ".so", ".gz", ".exe"))
    rng.shuffle(paths)
    texts, langs = [], []
    for p in paths:
        if len(texts) >= n_files:
            break
        try:
            text = p.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if len(text) > 2_000_000:
            continue
        lang = EXT_LANG.get(p.suffix, "Text")
        if rng.random() < 0.1:  # also run the HTML/JSON/YAML/XSLT rules on arbitrary files
            lang = rng.choice(["HTML", "JSON", "YAML", "XSLT", "html", None])
        texts.append(text)
        langs.append(lang)
    edge = EDGE + MULTIBYTE + [letters(n) for n in (49, 50, 5000, 5001)]
    edge += ['<?xml version="1.0"?>\n' + letters(200)] * 3
    texts += edge
    langs += [rng.choice(["HTML", "JSON", "YAML", "XSLT", None, "Python"]) for _ in edge]
    return texts, langs


@pytest.fixture(scope="module")
def real_files():
    texts, langs = corpus()
    assert len(texts) > 2000
    return texts, langs


@pytest.mark.parametrize("block_bytes", [None, 4096])
def test_stdlib_files_match_reference(real_files, block_bytes, monkeypatch):
    if block_bytes:  # many small blocks: exercises the block splitting
        monkeypatch.setattr(text_stats, "_BLOCK_BYTES", block_bytes)
    texts, langs = real_files
    arr = pa.array(texts, pa.large_string())
    assert_stats(arr)
    got = reasons(arr, langs)
    # The corpus exercises every rule and keeps most files.
    assert set(got) == {None, "avg_line_length", "max_line_length", "alpha_fraction", "xml_header",
                        "html_visible_text", "json_yaml_size"}
    assert got.count(None) > len(got) // 2
