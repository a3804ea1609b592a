"""Write the demo's repository list: the Python standard library and this venv's site-packages,
each package one repository. Both are on every machine that ran `make setup`.

Usage: python scripts/demo_sources.py LIST_FILE
"""

import sys
import sysconfig
from pathlib import Path

# Huge binary-heavy packages (if a later `make setup` installs them) would only slow the demo down.
SKIP = {"site-packages", "__pycache__", "torch", "nvidia", "triton", "pip", "setuptools", "_distutils_hack"}


def packages(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.is_symlink() and p.name not in SKIP
                  and not p.name.endswith((".dist-info", ".egg-info", ".data")) and not p.name.startswith("."))


def main(out: str) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    lines = ["# The Python standard library: one repository per package"]
    lines += [str(p) for p in packages(stdlib)]
    lines += ["# This environment's site-packages: one repository per installed package"]
    lines += [str(p) for p in packages(site)]
    Path(out).write_text("\n".join(lines) + "\n")
    print(f"{out}: {sum(1 for l in lines if not l.startswith('#'))} repositories")


if __name__ == "__main__":
    main(sys.argv[1])
