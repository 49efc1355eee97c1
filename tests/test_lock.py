"""The lock files (requirements/*.txt, written by `make lock`) against pyproject.toml.

pyproject.toml holds the ranges, the locks the exact releases that `make setup`, CI and the
offline bundle install. A range changed without `make lock` would let the two drift apart
silently: `pip install --no-deps -e .` installs nothing that the lock lacks.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def read_lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, [sha256, ...])} of requirements/<name>.txt."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            assert current not in pins, f"{current} pinned twice in {name}.txt"
            pins[current] = (match[2], [])
        elif "--hash=sha256:" in line and current:
            pins[current][1].append(line.split("--hash=sha256:")[1].strip(" \\"))
        elif not line.startswith(" "):
            current = None
    return pins


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize(("lock", "extras"), [("runtime", []), ("dev", ["dev"])])
def test_every_range_of_pyproject_is_pinned_inside_it(lock, extras):
    pins = read_lock(lock)
    wanted = [Requirement(r) for r in project()["dependencies"]]
    for extra in extras:
        wanted += [Requirement(r) for r in project()["optional-dependencies"][extra]]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements/{lock}.txt: run `make lock`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} in requirements/{lock}.txt is outside {requirement.specifier} "
            "of pyproject.toml: run `make lock`")


def test_every_pin_has_hashes_and_dev_keeps_the_runtime_pins():
    runtime, dev = read_lock("runtime"), read_lock("dev")
    for name, (version, hashes) in {**runtime, **dev}.items():
        assert hashes, f"{name}=={version} has no hash: pip --require-hashes would refuse it"
    for name, (version, _) in runtime.items():
        assert dev[name][0] == version, f"{name}: {version} at run time, {dev[name][0]} in tests"
