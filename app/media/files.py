"""File identity and atomic publication: what lets a checkpoint trust a file on disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
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


def matches(path: Path, size: int, sha256: str) -> bool:
    """True when `path` exists with exactly this size and hash."""
    try:
        return path.stat().st_size == size and file_sha256(path) == sha256
    except OSError:
        return False


def part_name(out: Path) -> Path:
    """A temp name beside `out`, unique to this process, hidden from directory listings."""
    return out.with_name(f".{out.name}.{os.getpid()}.part")
