"""The worker's cache of S3 sources: entries linked in and out without a copy, the least recently used out first."""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.storage.cache import ObjectCache, object_key


def a_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def test_an_entry_is_the_same_file_linked_out_to_each_job(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache", max_bytes=1000)
    source = a_file(tmp_path / "jobs" / "a" / "base.mp4", 100)
    cache.keep("etag-100", source)
    assert not cache.link_out("other-100", tmp_path / "jobs" / "x.mp4")  # a miss names no file
    for job in ("b", "c"):
        dest = tmp_path / "jobs" / job / "base.mp4"
        dest.parent.mkdir(parents=True)
        assert cache.link_out("etag-100", dest)
        assert dest.read_bytes() == source.read_bytes() and dest.stat().st_ino == source.stat().st_ino
    source.unlink()  # a job's end removes its dir: the entry and the other jobs' files stay
    assert (tmp_path / "jobs" / "c" / "base.mp4").stat().st_size == 100
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["etag-100"]


def test_the_least_recently_used_entries_go_once_the_rest_would_not_fit(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache", max_bytes=250)
    for name in ("one", "two"):
        cache.keep(name, a_file(tmp_path / "jobs" / name, 100))
    past = time.time() - 60
    os.utime(tmp_path / "cache" / "one", (past - 60, past - 60))  # one was kept first...
    os.utime(tmp_path / "cache" / "two", (past, past))
    assert cache.link_out("one", tmp_path / "jobs" / "one-again")  # ...but a job has used it since
    cache.keep("three", a_file(tmp_path / "jobs" / "three", 100))  # 300 bytes: one entry has to go
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["one", "three"]
    assert (tmp_path / "jobs" / "two").stat().st_size == 100  # the job's own name for it is untouched


def test_what_is_larger_than_the_cache_or_a_zero_cache_keeps_nothing(tmp_path: Path) -> None:
    large = a_file(tmp_path / "jobs" / "large", 300)
    ObjectCache(tmp_path / "small", max_bytes=250).keep("large", large)
    ObjectCache(tmp_path / "off", max_bytes=0).keep("large", large)
    assert not (tmp_path / "small").exists() and not (tmp_path / "off").exists()
    assert not ObjectCache(tmp_path / "off", max_bytes=0).enabled


def test_a_half_added_entry_a_killed_process_left_is_removed_at_the_next_eviction(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "cache", max_bytes=1000)
    left = a_file(tmp_path / "cache" / ".etag-100.4242.1", 100)
    cache.keep("etag-50", a_file(tmp_path / "jobs" / "a", 50))
    assert not left.exists() and [p.name for p in (tmp_path / "cache").iterdir()] == ["etag-50"]


def test_an_entry_is_named_by_the_etag_and_size_with_nothing_a_path_could_take() -> None:
    assert object_key('"9b2cf535f27731c974343645a3985328"', 1234) == "9b2cf535f27731c974343645a3985328-1234"
    assert object_key('"9b2cf535f27731c974343645a3985328-3"', 50 << 20) == "9b2cf535f27731c974343645a3985328-3-52428800"
    assert object_key('"../../etc/passwd"', 1) == "etcpasswd-1"
