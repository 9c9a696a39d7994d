"""File identity and atomic publication: what lets a checkpoint trust a file on disk."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from pathlib import Path


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


async def publish(part: Path, out: Path) -> tuple[int, str]:
    """Hash a finished temp file and rename it into place; returns (size, sha256)."""
    digest = await asyncio.to_thread(file_sha256, part)
    size = part.stat().st_size
    os.replace(part, out)
    return size, digest


def file_identity(path: Path) -> str:
    """What changes whenever the file's bytes may have: device, inode, size, mtime and ctime in ns.

    ctime cannot be set back by a user (utime sets it to now), so a file rewritten in place with the
    same size and a restored mtime still shows a new identity.
    """
    st = path.stat()
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


async def unchanged_since(path: Path, size: int, sha256: str, identity: str | None) -> bool:
    """True when `path` is still the file that was hashed: by identity when it holds, else by hash (in a thread).

    A source hours long takes tens of seconds to hash; its identity, a stat, proves the same thing on
    every resume unless the file was touched, and only then is it hashed again.
    """
    try:
        if identity is not None and file_identity(path) == identity:
            return True
    except OSError:
        return False
    return await asyncio.to_thread(matches, path, size, sha256)


def matches(path: Path, size: int, sha256: str) -> bool:
    """True when `path` exists with exactly this size and hash."""
    try:
        return path.stat().st_size == size and file_sha256(path) == sha256
    except OSError:
        return False


def remove_stale(directory: Path, pattern: str, age_seconds: float) -> list[Path]:
    """Remove the files in `directory` matching `pattern` that nobody has written for `age_seconds`; those removed."""
    cutoff, removed = time.time() - age_seconds, []
    for path in directory.glob(pattern):
        with contextlib.suppress(FileNotFoundError):  # another sweeper, or its writer finishing, got there first
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
    return removed


def part_name(out: Path) -> Path:
    """A temp name beside `out`, unique to this process, hidden from directory listings."""
    return out.with_name(f".{out.name}.{os.getpid()}.part")
