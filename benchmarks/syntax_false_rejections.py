"""How often the syntax rule rejects code known to be good, per language: the table in
docs/filter.md ("Syntax: where the parser is a judge") and the defaults of `--syntax-languages` /
`--tolerant-syntax-languages` come from this script.

    python -m benchmarks.syntax_false_rejections [--per-source 1000] [--json OUT.json]

Known-good code is code its own project compiles, imports or runs in its build and test suite:
the Python standard library and this venv's site-packages (byte-compiled at install), C headers
of glibc, CPython, NumPy and OpenSSL, C++ headers of libstdc++, LLVM and torch, CUDA's headers,
npm's JavaScript, TypeScript's own `.d.ts` libraries, the JDK's sources, Go's and Ruby's standard
libraries, Rust's `library/`, Perl's core modules, CMake's modules, PostgreSQL's extension
scripts, Tk's Tcl, and the rest listed in ``SOURCES``. Sources whose folder is missing on this
machine are skipped and reported (Debian: `apt-get install golang-1.19-src ruby3.1 rust-src` for
Go, Ruby and Rust; the JDK's `lib/src.zip` for Java).

Each file goes through ``stages.filter.syntax.file_syntax`` in the language crawl gives it (so a
`.h` labelled C is retried as C++, as the rule does). Per language it prints the files read, the
share rejected by the strict verdict (any parse error) and by the tolerant one (share of bytes in
error nodes above ``--tolerant-fraction``), and the decision: strict where the strict share is
below 1%, tolerant where the tolerant share is, else none (not checked). A language needs at least
``MIN_FILES`` files for a verdict. Files are drawn per source with a fixed seed, so the numbers
repeat on the same machine.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import random
import sys
import sysconfig
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from stages.filter.syntax import file_syntax

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])
MAX_FALSE_REJECTIONS = 0.01
MIN_FILES = 100
MAX_BYTES = 2_000_000

# Intentionally broken or non-UTF-8 files of the standard library's own tests:
# lib2to3/tests/data/ (Python 2 sources and encoding fixtures for the 2to3 tests),
# test/badsyntax_*, test/bad_coding* and test/tokenizedata/bad* (syntax/encoding error
# fixtures), test/encoded_modules/ and test/test_source_encoding.py (not UTF-8).
STDLIB_EXCLUDED = ("lib2to3/tests/data/", "test/badsyntax_", "test/bad_coding", "test/tokenizedata/bad",
                   "test/encoded_modules/", "test/test_source_encoding.py")
# Test fixtures that are meant not to compile: Go's `testdata/` folders (never built by `go build`)
# and cgo's error tests; Rust's `ui`-style compile-fail files are not in library/.
GO_EXCLUDED = ("/testdata/", "/misc/cgo/errors/")


@dataclass(frozen=True)
class Source:
    lang: str  # the language the syntax rule gets for these files
    root: str
    suffixes: tuple[str, ...]
    why: str  # why this code is known to be good
    exclude: tuple[str, ...] = ()
    zip_prefix: str | None = None  # root is a zip archive: members under this prefix

    def files(self) -> list[str]:
        root = Path(self.root)
        if self.zip_prefix is not None:
            with zipfile.ZipFile(root) as z:
                return sorted(n for n in z.namelist() if n.startswith(self.zip_prefix) and n.endswith(self.suffixes))
        return sorted(str(p) for p in root.rglob("*") if p.name.endswith(self.suffixes) and p.is_file()
                      and not any(ex in str(p) for ex in self.exclude))

    def read(self, name: str) -> str | None:
        if self.zip_prefix is not None:
            data = _zip(self.root).read(name)
        else:
            data = Path(name).read_bytes()
        if len(data) > MAX_BYTES:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None


@functools.cache
def _zip(path: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


TORCH_INCLUDE = f"{SITE}/torch/include"
SOURCES = [
    Source("Python", str(STDLIB), (".py",), "CPython's standard library (compiled at install, run by its tests)",
           exclude=("site-packages",) + STDLIB_EXCLUDED),
    Source("Python", str(SITE), (".py",), "this venv's site-packages (byte-compiled by pip at install)"),
    Source("C", "/usr/include", (".h",), "glibc and system headers (compiled by every C program here)",
           exclude=("/c++/", "/llvm", "/node/", "/python3")),
    Source("C", f"{sys.base_prefix}/include", (".h",), "CPython's C API headers"),
    Source("C", f"{SITE}/numpy", (".h", ".c"), "NumPy's C headers and sources"),
    Source("C", "/usr/include/node/openssl", (".h",), "OpenSSL's headers (node's build)"),
    Source("C++", "/usr/include/c++", (".h", ".hpp", ".tcc"), "libstdc++ headers (GCC 12)"),
    Source("C++", "/usr/include/llvm-14", (".h",), "LLVM 14 headers"),
    Source("C++", f"{TORCH_INCLUDE}/c10", (".h", ".hpp", ".cpp"), "torch's c10 headers (torch's build)"),
    Source("C++", f"{TORCH_INCLUDE}/ATen", (".h", ".hpp", ".cpp"), "torch's ATen headers (torch's build)"),
    Source("C++", f"{TORCH_INCLUDE}/pybind11", (".h",), "pybind11's headers"),
    Source("C", f"{TORCH_INCLUDE}/c10", (".h",), "torch's c10 headers as crawl labels them today (.h = C)"),
    Source("CUDA", "/usr/local/cuda-13.0/include", (".cuh",), "CUDA 13's headers"),
    Source("CUDA", TORCH_INCLUDE, (".cuh", ".cu"), "torch's CUDA headers"),
    Source("JavaScript", "/usr/lib/node_modules/npm", (".js", ".cjs", ".mjs"), "npm and its dependencies (run by npm)"),
    Source("TypeScript", "/usr/share/nodejs/typescript", (".ts",), "TypeScript's own lib .d.ts files"),
    Source("Java", "/usr/lib/jvm/temurin-25-jdk-amd64/lib/src.zip", (".java",), "JDK 25's java.base sources",
           zip_prefix="java.base/"),
    Source("Go", "/usr/share/go-1.19/src", (".go",), "Go 1.19's standard library", exclude=GO_EXCLUDED),
    Source("Ruby", "/usr/lib/ruby/3.1.0", (".rb",), "Ruby 3.1's standard library"),
    Source("Rust", "/usr/lib/rustlib/src/rust/library", (".rs",), "Rust 1.63's library/ (core, alloc, std)"),
    Source("Perl", "/usr/share/perl/5.36.0", (".pm", ".pl"), "Perl 5.36's core modules"),
    Source("CMake", "/usr/share/cmake-3.25/Modules", (".cmake",), "CMake 3.25's modules"),
    Source("SQL", "/usr/share/postgresql", (".sql",), "PostgreSQL 15's extension scripts"),
    Source("Tcl", "/usr/share/tcltk", (".tcl",), "Tcl/Tk 8.6's library"),
    Source("Shell", "/usr/lib", (".sh",), "shell scripts shipped in Debian packages"),
    Source("Shell", "/usr/share", (".sh",), "shell scripts shipped in Debian packages", exclude=("/doc/",)),
    Source("PHP", "/usr/lib/google-cloud-sdk", (".php",), "Google Cloud SDK's PHP"),
    Source("YAML", "/usr/lib/google-cloud-sdk", (".yaml", ".yml"), "Google Cloud SDK's YAML (loaded by gcloud)"),
    Source("JSON", "/usr/lib/node_modules/npm", (".json",), "npm's JSON (parsed by node)"),
    Source("JSON", "/usr/lib/google-cloud-sdk", (".json",), "Google Cloud SDK's JSON"),
    Source("CSS", str(Path.home() / ".rustup"), (".css",), "rustdoc's CSS"),
    Source("HTML", "/usr/lib/node_modules/npm", (".html",), "npm's HTML documentation"),
    Source("XSLT", "/usr/share", (".xsl", ".xslt"), "XSLT stylesheets shipped in Debian packages"),
    Source("Fortran", str(SITE), (".f90", ".f", ".f95"), "Fortran sources of NumPy's f2py tests"),
]


def measure(per_source: int, tolerant_fraction: float, seed: int = 0) -> dict:
    per_lang: dict[str, dict] = defaultdict(lambda: {"files": 0, "strict": 0, "tolerant": 0, "sources": [],
                                                     "rejected": [], "fractions": []})
    skipped = []
    seen: set[tuple[str, str]] = set()  # (language, content hash): a file copied into several places counts once
    for src in SOURCES:
        if not Path(src.root).exists():
            skipped.append(f"{src.lang}: {src.root} (missing)")
            continue
        names = src.files()
        random.Random(f"{seed}:{src.root}:{src.lang}").shuffle(names)
        stats = per_lang[src.lang]
        n = 0
        for name in names:
            if n >= per_source:
                break
            text = src.read(name)
            if text is None:
                continue
            digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
            if (src.lang, digest) in seen:
                continue
            seen.add((src.lang, digest))
            score = file_syntax(text, src.lang)
            if score is None:
                continue
            n += 1
            stats["files"] += 1
            fraction = score.error_fraction if score.errors else 0.0
            stats["fractions"].append(fraction)
            if score.errors:
                stats["strict"] += 1
                if len(stats["rejected"]) < 8:
                    stats["rejected"].append(f"{name} ({score.errors} errors, {fraction:.1%} of bytes)")
            if score.errors and fraction > tolerant_fraction:
                stats["tolerant"] += 1
        stats["sources"].append(f"{src.why}: {n}")
    table = {}
    for lang, s in per_lang.items():
        files = s["files"]
        strict, tolerant = (s["strict"] / files, s["tolerant"] / files) if files else (1.0, 1.0)
        if files < MIN_FILES:
            decision = "none (too few files)"
        elif strict < MAX_FALSE_REJECTIONS:
            decision = "strict"
        elif tolerant < MAX_FALSE_REJECTIONS:
            decision = "tolerant"
        else:
            decision = "none"
        fractions = sorted(s.pop("fractions"))
        p99 = fractions[min(len(fractions) - 1, int(0.99 * len(fractions)))] if fractions else 0.0
        table[lang] = {**s, "strict_rate": strict, "tolerant_rate": tolerant, "p99_error_fraction": p99,
                       "strict_upper95": upper95(s["strict"], files), "decision": decision}
    return {"tolerant_fraction": tolerant_fraction, "per_source": per_source, "languages": table,
            "skipped": skipped}


def upper95(k: int, n: int) -> float:
    """Wilson score upper bound (95%) of a rate observed as k of n."""
    if n == 0:
        return 1.0
    z, p = 1.96, k / n
    centre = p + z * z / (2 * n)
    spread = z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return min(1.0, (centre + spread) / (1 + z * z / n))


def markdown(result: dict) -> str:
    t = result["tolerant_fraction"]
    lines = [f"| language | files | rejected, any error (95% upper bound) | rejected, > {t:.0%} of bytes in "
             "errors | 99% of files have at most this share of bytes in errors | decision |",
             "|---|---|---|---|---|---|"]
    for lang, s in sorted(result["languages"].items()):
        lines.append(f"| {lang} | {s['files']:,} | {s['strict']} = {s['strict_rate']:.2%} (≤ {s['strict_upper95']:.2%}) | "
                     f"{s['tolerant']} = {s['tolerant_rate']:.2%} | {s['p99_error_fraction']:.1%} | {s['decision']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-source", type=int, default=1000, help="files drawn per source (seeded)")
    parser.add_argument("--tolerant-fraction", type=float, default=0.05,
                        help="the tolerant verdict: reject above this share of bytes in error nodes")
    parser.add_argument("--json", type=Path, help="write the full result (with rejected examples) here")
    args = parser.parse_args()
    t0 = time.perf_counter()
    result = measure(args.per_source, args.tolerant_fraction)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(markdown(result))
    for lang, s in sorted(result["languages"].items()):
        print(f"\n{lang}: " + "; ".join(s["sources"]))
        for r in s["rejected"]:
            print(f"  rejected: {r}")
    if result["skipped"]:
        print("\nskipped: " + "; ".join(result["skipped"]))
    print(f"\n{result['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
