"""Line-completion metrics of CrossCodeEval (``scripts/eval_metric.py`` and ``eval_utils.py`` of
amazon-science/cceval): exact match, edit similarity, identifier exact match and F1.

For one task (``prediction`` the model's completion cut to its line, ``target`` the ground truth):

* comments are removed from both (``#`` to the end of the line in Python, ``//`` in the other
  languages, as CrossCodeEval's ``remove_comments``, which does not look at strings either);
* **EM**: the non-blank lines of both, stripped, are equal;
* **ES**: ``100 * 2 * LCS / (len(p) + len(t))`` of the stripped strings (the Indel similarity:
  ``fuzz.ratio`` of python-Levenshtein / rapidfuzz; CrossCodeEval rounds it to an integer per task,
  here it is kept exact and the mean is rounded);
* **identifiers**: quoted strings removed, then ``\\w+`` tokens that start with a letter or ``_`` and
  are not a keyword of the language; **ID EM**: the two lists are equal (order and repeats count,
  as CrossCodeEval compares them); **ID F1** over the two sets (0 when both are empty, as there).

The prediction is the completion's first non-blank line ("first line", the paper's protocol for
this benchmark; CrossCodeEval cuts Python at the first complete statement and the bracket
languages at the first ``;``, ``{`` or ``}``, which for a one-line ground truth is the same line or
less of it).
"""

from __future__ import annotations

import keyword
import re

_STRING = re.compile(r'"([^"\\]*(\\.[^"\\]*)*)"|\'([^\'\\]*(\\.[^\'\\]*)*)\'')
_WORD = re.compile(r"\w+")
_IDENTIFIER = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")

# Reserved words per language (true/false/null literals are not among them, as in CrossCodeEval's lists).
KEYWORDS = {
    "python": frozenset(k for k in keyword.kwlist if k not in ("True", "False")),
    "java": frozenset("""abstract assert boolean break byte case catch char class const continue default do
        double else enum extends final finally float for goto if implements import instanceof int interface
        long native new package private protected public return short static strictfp super switch
        synchronized this throw throws transient try var void volatile while""".split()),
    "csharp": frozenset("""abstract as base bool break byte case catch char checked class const continue
        decimal default delegate do double else enum event explicit extern finally fixed float for foreach
        goto if implicit in int interface internal is lock long namespace new null object operator out
        override params private protected public readonly ref return sbyte sealed short sizeof stackalloc
        static string struct switch this throw try typeof uint ulong unchecked unsafe ushort using virtual
        void volatile while""".split()),
    "typescript": frozenset("""break case catch class const continue debugger default delete do else enum
        export extends finally for function if implements import in instanceof interface let new package
        private protected public return static super switch this throw try typeof var void while with
        yield""".split()),
}
KEYWORDS["javascript"] = KEYWORDS["typescript"]


def first_line(completion: str) -> str:
    """The completion's first non-blank line (without its newline)."""
    for line in completion.split("\n"):
        if line.strip():
            return line.rstrip("\r")
    return ""


def remove_comments(code: str, language: str) -> str:
    return re.sub(r"#.*" if language == "python" else r"//.*", "", code)


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence (Hyyrö's bit-parallel algorithm: one big-int
    operation per character of ``b``)."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, ch in enumerate(a):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for ch in b:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def edit_similarity(prediction: str, target: str) -> float:
    """0..100: the Indel similarity of the stripped strings."""
    p, t = prediction.strip(), target.strip()
    if not p and not t:
        return 100.0
    return 100.0 * 2 * lcs_length(p, t) / (len(p) + len(t))


def identifiers(code: str, language: str) -> list[str]:
    words = KEYWORDS.get(language, frozenset())
    return [w for w in _WORD.findall(_STRING.sub("", code)) if _IDENTIFIER.match(w) and w not in words]


def score(prediction: str, target: str, language: str) -> dict:
    """The metrics of one task (each 0 or 1, ES 0..100); ``prediction`` already cut to its line."""
    pred = remove_comments(prediction, language)
    gold = remove_comments(target, language)
    em = [x.strip() for x in pred.split("\n") if x.strip()] == [x.strip() for x in gold.split("\n") if x.strip()]
    p_ids, t_ids = identifiers(pred, language), identifiers(gold, language)
    tp = len(set(p_ids) & set(t_ids))
    fp, fn = len(set(p_ids)) - tp, len(set(t_ids)) - tp
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
    return {"em": int(em), "es": round(edit_similarity(pred, gold), 4), "id_em": int(p_ids == t_ids),
            "id_f1": round(f1, 6)}


def aggregate(rows: list[dict]) -> dict:
    """Means over tasks, in percent (ES already is), two decimals; ``tasks`` counted."""
    n = len(rows)
    if not n:
        return {"tasks": 0}
    return {"tasks": n, "em": round(100 * sum(r["em"] for r in rows) / n, 2),
            "es": round(sum(r["es"] for r in rows) / n, 2),
            "id_em": round(100 * sum(r["id_em"] for r in rows) / n, 2),
            "id_f1": round(100 * sum(r["id_f1"] for r in rows) / n, 2)}
