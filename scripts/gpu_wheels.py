"""Wheels for a CUDA machine without internet where torch is preinstalled (NVIDIA's PyTorch
containers, the GPU machine this project is lent): fetched here, installed there.

    python scripts/gpu_wheels.py download DIR [--python-version 3.12] [--torch-version 2.11.0] [--have FILE]
    python scripts/gpu_wheels.py install DIR TARGET      # there: the wheels it lacks, into TARGET
    python scripts/gpu_wheels.py requirements            # what dscoder needs besides torch

`download` resolves dscoder's dependencies and its `train` extra (without torch) with pip's own
resolver for manylinux x86-64 and that Python, and saves every wheel of the result except torch and
what only torch needs (nvidia-*, triton, cuda-*). torch takes part in the resolution as a stand-in
wheel of `--torch-version` (the preinstalled one), so pip never fetches the multi-GB CUDA build.
`--have FILE` (lines `NAME` or `NAME==VERSION`, e.g. `pip list --format=freeze` of the target)
leaves out what the target has already, to keep the folder small.

`install` runs on the target: `pip install --no-index --no-deps --target TARGET` of the wheels whose
distribution this interpreter lacks (its own numpy, transformers, ... are kept), then checks every
requirement against what is importable with TARGET first on sys.path and prints a JSON summary whose
`unmet` lists the requirements still not satisfied (the check goes on and records them: an older
preinstalled package may do for the commands it runs). Use it with `PYTHONPATH=TARGET:REPO`.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]
PREINSTALLED = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")   # torch and what only torch needs


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> list[str]:
    """dscoder's dependencies + its `train` extra, without torch (the target's own is used)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["train"])
    return [r for r in reqs if canonical(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) != "torch"]


def stand_in_wheel(folder: Path, name: str, version: str) -> Path:
    """An empty wheel that tells pip's resolver `name==version` is there."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: dscoder\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


def read_have(path: Path | None) -> set[str]:
    if path is None:
        return set()
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(canonical(re.split(r"[=<>@ ]", line, maxsplit=1)[0]))
    return names


def platform_args(python_version: str) -> list[str]:
    args = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    for p in PLATFORMS:
        args += ["--platform", p]
    return args


def download(folder: Path, python_version: str, torch_version: str, have: set[str]) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stand_in = f"{torch_version}+preinstalled"   # a local version: no index has it, so pip takes this wheel
        stand_in_wheel(tmp, "torch", stand_in)
        (tmp / "requirements.txt").write_text("\n".join(requirements()) + f"\ntorch=={stand_in}\n")
        report = tmp / "report.json"
        subprocess.run(pip + ["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                              "--find-links", str(tmp), "--target", str(tmp / "target"),
                              *platform_args(python_version), "-r", str(tmp / "requirements.txt")], check=True)
        resolved = {canonical(i["metadata"]["name"]): i["metadata"]["version"]
                    for i in json.loads(report.read_text())["install"]}
    wanted = {n: v for n, v in resolved.items() if not PREINSTALLED.match(n) and n not in have}
    if wanted:
        subprocess.run(pip + ["download", "--no-deps", "--quiet", "-d", str(folder), *platform_args(python_version),
                              *(f"{n}=={v}" for n, v in sorted(wanted.items()))], check=True)
    files = sorted(folder.glob("*.whl"))
    return {"folder": str(folder), "python_version": python_version, "torch": torch_version,
            "resolved": len(resolved), "left_to_the_target": sorted(set(resolved) - set(wanted)),
            "wheels": [f.name for f in files], "megabytes": round(sum(f.stat().st_size for f in files) / 2**20, 1)}


def wheel_name(path: Path) -> tuple[str, str]:
    name, version = path.name.split("-")[:2]
    return canonical(name), version


def unmet(target: Path) -> list[str]:
    """Requirements not satisfied with `target` first on the path (checked in a fresh interpreter)."""
    code = (
        "import importlib.metadata as md, json, sys\n"
        "from packaging.requirements import Requirement\n"
        "bad = []\n"
        "for line in json.loads(sys.argv[1]):\n"
        "    r = Requirement(line)\n"
        "    if r.marker and not r.marker.evaluate(): continue\n"
        "    try: v = md.version(r.name)\n"
        "    except md.PackageNotFoundError: bad.append(f'{line} (missing)'); continue\n"
        "    if v not in r.specifier: bad.append(f'{line} (found {v})')\n"
        "print(json.dumps(bad))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code, json.dumps(requirements())], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout)


def install(folder: Path, target: Path) -> dict:
    have = {canonical(d.metadata["Name"]) for d in md.distributions() if d.metadata["Name"]}
    wheels = sorted(folder.glob("*.whl"))
    chosen = [w for w in wheels if wheel_name(w)[0] not in have]
    target.mkdir(parents=True, exist_ok=True)
    if chosen:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                        "--upgrade", "--target", str(target), *map(str, chosen)], check=True)
    return {"target": str(target), "installed": [w.name for w in chosen],
            "kept_from_this_python": sorted(wheel_name(w)[0] for w in wheels if w not in chosen),
            "unmet": unmet(target)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("download")
    d.add_argument("folder", type=Path)
    d.add_argument("--python-version", default="3.12")
    d.add_argument("--torch-version", default="2.11.0", help="the target's preinstalled torch")
    d.add_argument("--have", type=Path, help="packages the target has already (one NAME[==VERSION] a line)")
    i = sub.add_parser("install")
    i.add_argument("folder", type=Path)
    i.add_argument("target", type=Path)
    sub.add_parser("requirements")
    a = ap.parse_args(argv)
    if a.cmd == "requirements":
        print("\n".join(requirements()))
        return 0
    if a.cmd == "download":
        print(json.dumps(download(a.folder, a.python_version, a.torch_version, read_have(a.have)), indent=1))
        return 0
    result = install(a.folder, a.target)
    print(json.dumps(result, indent=1))
    if result["unmet"]:
        print(f"gpu_wheels: unmet requirements: {', '.join(result['unmet'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
