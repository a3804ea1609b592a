"""PAL-Math answers (paper Table 8), read and compared the way DeepSeek's ``Evaluation/PAL-Math``
scripts do (``utils/parser.py``: question, ground truth, ``strip_string``; ``utils/grader.py``:
``math_equal``; ``run.py``: ``math_equal(gt, pred)`` -- note the order, which makes the ground truth
the "prediction" argument of the grader and the program's answer its "reference").

* Normalisation (:func:`strip_string`): LaTeX fractions and roots, units in ``\\text{}``, dollars,
  percents, degrees, ``\\left``/``\\right``, trailing ``.``, ``k = `` prefixes, ``a/b`` as a fraction,
  trailing ``.000``.
* Equal (:func:`math_equal`): both numbers and the ground truth within ``rel_tol=1e-4`` of the answer,
  the answer /100 or the answer x100; else the same text once brackets and braces are dropped; else
  element-wise for two tuples/lists; else sympy finds them equal (``simplify(a - b) == 0``, or
  numerically within ``rel_tol=1e-3``), each side parsed with ``parse_latex`` and then ``parse_expr``.

Two guards that DeepSeek's grader does not have, because the answer is the output of untrusted code
and the grader runs in the evaluator: sympy's ``parse_expr`` (which evaluates Python) is given only
text without attribute access, dunders, quotes or statements (:data:`SAFE_EXPRESSION`), and the
symbolic comparison runs in a forked child killed after :data:`SYMBOLIC_TIMEOUT` seconds (then: not
equal). A number-only answer never reaches sympy.
"""

from __future__ import annotations

import os
import re
import signal
from math import isclose
from typing import Any

SYMBOLIC_TIMEOUT = 5.0
SAFE_EXPRESSION = re.compile(r"[0-9A-Za-z\s+\-*/^().,{}\[\]\\|!<>=]{1,300}")
_UNSAFE = re.compile(r"__|\.\s*[A-Za-z_]|\b(lambda|import|exec|eval|open|getattr|globals|locals)\b")


# ------------------------------------------------------------------------------ questions, answers
def pal_question(row: dict, dataset: str) -> str:
    """utils/parser.py parse_question: asdiv `body question`, svamp `Body` (a "." added when missing)
    + `Question`, else the first of question, problem, Question, input; stripped."""
    if dataset == "asdiv":
        text = f"{row['body'].strip()} {row['question'].strip()}"
    elif dataset == "svamp":
        body = row["Body"].strip()
        text = f"{body if body.endswith('.') else body + '.'} {row['Question'].strip()}"
    else:
        text = next((row[k] for k in ("question", "problem", "Question", "input") if k in row), "")
    return str(text).strip()


def gold_answer(row: dict, dataset: str) -> str:
    """utils/parser.py parse_ground_truth, normalised with strip_string."""
    if dataset == "math":
        return strip_string(boxed_answer(row["solution"]))  # extract_answer, then strip_string once more
    if dataset == "gsm8k":
        answer = row["answer"].split("####")[1]
    elif dataset in ("gsm-hard", "mawps"):
        answer = row["target"]
    elif dataset == "svamp":
        answer = row["Answer"]
    elif dataset == "asdiv":
        answer = re.sub(r"\(.*?\)", "", row["answer"])
    else:
        raise ValueError(f"unknown PAL-Math set {dataset!r}")
    return strip_string(answer)


def boxed_answer(solution: str) -> str:
    """utils/parser.py extract_answer on a MATH solution: the last \\boxed{...} (braces balanced), or
    the text after `boxed` up to a `$`; first line; a leading `:` and trailing `.`/`/` dropped."""
    if "boxed" in solution:
        rest = solution.split("boxed")[-1]
        if not rest:
            return ""
        if rest[0] == "{":
            depth, out = 1, ""
            for c in rest[1:]:
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        break
                out += c
            pred = out
        else:
            pred = rest.split("$")[0].strip()
    elif "he answer is" in solution:
        pred = solution.split("he answer is")[-1].strip()
    else:
        numbers = re.findall(r"-?\d*\.?\d+", solution.replace(",", ""))
        pred = numbers[-1] if numbers else ""
    pred = pred.split("\n")[0]
    if pred.startswith(":"):
        pred = pred[1:]
    if pred.endswith("."):
        pred = pred[:-1]
    if pred.endswith("/"):
        pred = pred[:-1]
    return strip_string(pred)


# ------------------------------------------------------------------------------------ strip_string
def _fix_fracs(s: str) -> str:
    parts = s.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part[:1] == "{":
            out += part
            continue
        if len(part) < 2:
            return s
        a, b, rest = part[0], part[1], part[2:]
        out += ("{" + a + "}{" + b + "}" + rest) if b != "{" else ("{" + a + "}" + b + rest)
    return out


def _fix_a_slash_b(s: str) -> str:
    if len(s.split("/")) != 2:
        return s
    a, b = s.split("/")
    try:
        a2 = a if "sqrt" in a else int(a)
        b2 = b if "sqrt" in b else int(b)
        if s != f"{a2}/{b2}":
            return s
        return "\\frac{" + str(a2) + "}{" + str(b2) + "}"
    except ValueError:
        return s


def strip_string(value: Any) -> str:
    """utils/parser.py strip_string (ToRA's normalisation), rule for rule."""
    s = str(value).strip().replace("\n", "").rstrip(".")
    s = s.replace("\\!", "").replace("\\ ", "")
    s = s.replace("\\\\", "\\").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    unitless = re.sub(r"\\text{.*?}$", "", s).strip()
    if unitless != "" and unitless != s:
        s = unitless
    s = s.replace("^{\\circ}", "").replace("^\\circ", "")
    s = s.replace("\\$", "").replace("$", "")
    s = s.replace("\\text", "").replace("x\\in", "")
    s = s.replace("\\%", "").replace("%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    s = s.replace("\\cdot", "")
    s = s.replace("infinity", "\\infty")
    if "\\infty" not in s:
        s = s.replace("inf", "\\infty")
    s = s.replace("+\\inity", "\\infty")
    s = s.replace("and", "").replace("\\mathbf", "")
    s = re.sub(r"\\mbox{.*?}", "", s)
    if "j" in s and "i" not in s:
        s = s.replace("j", "i")
    s = re.sub(r"(\d+)\.0+([^\d])", r"\1\2", s)
    s = re.sub(r"(\d+)\.0+$", r"\1", s)
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    if len(s.split("=")) == 2 and len(s.split("=")[0]) <= 2:
        s = s.split("=")[1]
    s = re.sub(r"\\sqrt(\w+)", r"\\sqrt{\1}", s)
    s = s.replace(" ", "")
    s = _fix_fracs(s)
    return _fix_a_slash_b(s)


# -------------------------------------------------------------------------------------- math_equal
def _is_number(s: Any) -> bool:
    try:
        float(str(s).replace(",", ""))
        return True
    except ValueError:
        return False


def math_equal(prediction: Any, reference: Any) -> bool:
    """utils/grader.py math_equal(prediction, reference) with include_percentage and is_close on, no
    timeout. run.py calls it as math_equal(gt, pred)."""
    if _is_number(prediction) and _is_number(reference):
        p = float(str(prediction).replace(",", ""))
        r = float(str(reference).replace(",", ""))
        for item in (r / 100, r, r * 100):
            try:
                if isclose(item, p, rel_tol=1e-4):
                    return True
            except (OverflowError, ValueError):
                continue
        return False
    if not prediction and prediction not in (0, False):
        return False
    ref, pred = str(reference).strip(), str(prediction).strip()
    pred_s, ref_s = pred, ref
    if (pred.startswith("[") and pred.endswith("]") and not ref.startswith("(")) or \
            (pred.startswith("(") and pred.endswith(")") and not ref.startswith("[")):
        pred_s, ref_s = pred_s.strip("[]()"), ref_s.strip("[]()")
    for c in "{}()":
        ref_s, pred_s = ref_s.replace(c, ""), pred_s.replace(c, "")
    if pred_s == ref_s:
        return True
    if ((pred.startswith("[") and pred.endswith("]")) and (ref.startswith("[") and ref.endswith("]"))) or \
            ((pred.startswith("(") and pred.endswith(")")) and (ref.startswith("(") and ref.endswith(")"))):
        p_parts, r_parts = pred[1:-1].split(","), ref[1:-1].split(",")
        if len(p_parts) == len(r_parts) and all(math_equal(a, b) for a, b in zip(p_parts, r_parts)):
            return True
    return symbolic_equal_guarded(pred, ref)


def _parse(s: str):
    from sympy.parsing.latex import parse_latex
    from sympy.parsing.sympy_parser import parse_expr
    try:
        return parse_latex(s)
    except Exception:  # noqa: BLE001 - grader.py tries the next parser on any failure
        pass
    if SAFE_EXPRESSION.fullmatch(s) and not _UNSAFE.search(s):
        try:
            return parse_expr(s)
        except Exception:  # noqa: BLE001
            pass
    return s


def symbolic_equal(a: str, b: str) -> bool:
    """grader.py symbolic_equal: simplify(a - b) == 0, else N(a) within rel_tol 1e-3 of N(b)."""
    from sympy import N, simplify
    x, y = _parse(a), _parse(b)
    try:
        if simplify(x - y) == 0:
            return True
    except Exception:  # noqa: BLE001
        pass
    try:
        if isclose(N(x), N(y), rel_tol=1e-3):
            return True
    except Exception:  # noqa: BLE001
        pass
    return False


def symbolic_equal_guarded(a: str, b: str, timeout: float = SYMBOLIC_TIMEOUT) -> bool:
    """symbolic_equal in a forked child killed after `timeout` seconds (sympy can run for ever, and
    in C where no signal stops it)."""
    import sympy  # noqa: F401 - imported once in the parent, inherited by every child
    from sympy.parsing import latex  # noqa: F401
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            ok = symbolic_equal(a, b)
        except BaseException:  # noqa: BLE001
            ok = False
        os.write(w, b"1" if ok else b"0")
        os._exit(0)
    os.close(w)
    import select
    ready, _, _ = select.select([r], [], [], timeout)
    answer = os.read(r, 1) if ready else b""
    os.close(r)
    if not answer:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.waitpid(pid, 0)
    return answer == b"1"


def grade(gold: str, answer: Any) -> bool:
    """run.py: pred = strip_string(the value of solution()), then math_equal(gt, pred)."""
    return math_equal(gold, strip_string(answer))
