"""Generated sources shared by a test session: made once, hard-linked into each test's MEDIA_ROOT."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest


class SourceCache:
    """Makes each named source once per session."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def link(self, name: str, media_root: Path, make: Callable[[Path], object]) -> str:
        """Make `name` if needed and link it into `media_root`; returns the input_path to submit."""
        cached = self.directory / name
        if not cached.exists():
            part = cached.with_suffix(".part" + cached.suffix)
            make(part)
            part.rename(cached)
        target = media_root / name
        if not target.exists():
            os.link(cached, target)
        return name


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> SourceCache:
    """The session's cache of generated sources."""
    return SourceCache(tmp_path_factory.mktemp("sources"))
