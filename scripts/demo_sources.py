"""Write the demo's repository list: the Python standard library and this venv's site-packages,
each package one repository. Both are on every machine that ran `make setup`.

The corpus is kept small enough for `make demo` to run end to end on a laptop: packages above
PACKAGE_CAP_MB of source are skipped (transformers, sympy, scipy, numpy, …) and site-packages stops
at SITE_CAP_MB; the standard library's own test suite is skipped too.

Usage: python scripts/demo_sources.py LIST_FILE
       python scripts/demo_sources.py LIST_FILE --site-packages
           every package of site-packages, no caps (about 250 MB of code: torch, transformers, sympy,
           scipy, numpy, …): the realistic corpus each data-stage change is measured on.
"""

import os
import sys
import sysconfig
from pathlib import Path

SKIP = {"site-packages", "__pycache__", "test", "pip", "setuptools", "_distutils_hack"}
PACKAGE_CAP_MB = 9
SITE_CAP_MB = 16


def packages(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.is_symlink() and p.name not in SKIP
                  and not p.name.endswith((".dist-info", ".egg-info", ".data")) and not p.name.startswith("."))


def source_mb(folder: Path) -> float:
    from stages.core.languages import detect_language
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            if detect_language(f):
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
    return total / 1e6


def main(out: str, site_packages_only: bool = False) -> None:
    if site_packages_only:
        site = Path(sysconfig.get_paths()["purelib"])
        repos = [str(p) for p in packages(site)]
        Path(out).write_text("# This environment's site-packages: one repository per package\n"
                             + "\n".join(repos) + "\n")
        print(f"{out}: {len(repos)} repositories")
        return
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    lines = ["# The Python standard library: one repository per package"]
    lines += [str(p) for p in packages(stdlib)]
    lines += [f"# This environment's site-packages: one repository per package up to {PACKAGE_CAP_MB} MB, "
              f"{SITE_CAP_MB} MB in all"]
    # Largest first among those under the cap: real, multi-language packages (pyarrow's C++
    # headers, …) rather than many tiny ones; ties by name, so the list is deterministic.
    sized = sorted(((source_mb(p), p) for p in packages(site)), key=lambda t: (-t[0], t[1].name))
    total = 0.0
    for mb, p in sized:
        if mb <= PACKAGE_CAP_MB and total + mb <= SITE_CAP_MB:
            lines.append(str(p))
            total += mb
    Path(out).write_text("\n".join(lines) + "\n")
    print(f"{out}: {sum(1 for line in lines if not line.startswith('#'))} repositories")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1], site_packages_only="--site-packages" in sys.argv[2:])
