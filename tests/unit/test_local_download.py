"""A local download is found with one stat, which the response is served with: a sweep between the two cannot
make it a 500."""

from __future__ import annotations

import os
from pathlib import Path

from app.storage.local import LocalStore


async def test_a_download_carries_the_stat_it_was_found_with(tmp_path: Path) -> None:
    store = LocalStore(output_root=tmp_path, uploads_root=tmp_path / "uploads")
    reel = store.reel_path("j1")
    reel.write_bytes(b"x" * 1000)
    found = await store.download("j1", "reel", filename="j1.mp4")
    assert found is not None and found.path == reel and found.stat is not None and found.stat.st_size == 1000
    os.unlink(reel)  # the sweep lands now: the answer already has what it is served with
    assert found.stat.st_size == 1000
    assert await store.download("j1", "reel", filename="j1.mp4") is None
    store.reel_path("j2").mkdir()  # not a regular file: not a reel
    assert await store.download("j2", "reel", filename="j2.mp4") is None
