"""Generated sources shared by a test run: each made once, by whichever xdist worker needs it first.

The run's controller makes one directory for every worker (`SMARTEDIT_TEST_MEDIA`, removed at the end);
`make_source` keeps what it generates there by its arguments, and `SourceCache` by name. A maker holds a lock
file beside the source while it writes (under a name of its own process, renamed into place): a second worker
that wants the same source meanwhile waits for it instead of making it again.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

SHARED_MEDIA = "SMARTEDIT_TEST_MEDIA"


def shared_media() -> Path | None:
    """The run's shared directory of generated media; None outside a test run (bench, a script)."""
    directory = os.environ.get(SHARED_MEDIA)
    return Path(directory) if directory else None


def made_once(cached: Path, make: Callable[[Path], object]) -> Path:
    """`cached`, made by `make` (given a temporary path beside it with the same suffix) unless already there."""
    if cached.exists():
        return cached
    with open(cached.with_name(f".{cached.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when its process dies
        if not cached.exists():  # not made by the worker that held the lock before
            part = cached.with_name(f".{cached.stem}.{os.getpid()}.part{cached.suffix}")
            make(part)
            os.replace(part, cached)
    return cached


class SourceCache:
    """Makes each named source once per run."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def link(self, name: str, media_root: Path, make: Callable[[Path], object]) -> str:
        """Make `name` if needed and link it into `media_root`; returns the input_path to submit."""
        cached = made_once(self.directory / name, make)
        target = media_root / name
        if not target.exists():
            os.link(cached, target)
        return name


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and SHARED_MEDIA not in os.environ:  # the controller, or a run without -n
        directory = tempfile.mkdtemp(prefix="smartedit-test-media-")
        os.environ[SHARED_MEDIA] = directory  # xdist's workers start after this and inherit it
        config.stash[_OWNED] = directory


def pytest_unconfigure(config: pytest.Config) -> None:
    if directory := config.stash.get(_OWNED, None):
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(SHARED_MEDIA, None)


_OWNED = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> SourceCache:
    """The run's cache of generated sources (one per worker when the shared directory is not set)."""
    shared = shared_media()
    directory = shared / "named" if shared else tmp_path_factory.mktemp("sources")
    directory.mkdir(exist_ok=True)
    return SourceCache(directory)
