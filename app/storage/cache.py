"""A worker's copies of the sources it downloaded from S3, kept so that an edit does not download its source again.

The Studio's edits are jobs `based_on` the job before; on an S3 store each would otherwise download the whole
source, seconds to minutes per edit, and hash it again. An entry is named by the object's ETag and size: a copy
inside the bucket (how an edit publishes its base's source) keeps a single-part object's ETag, so an edit of an
edit finds it too. Entries are hard links, into a job's directory and out of it: no byte is copied, and a job
keeps its file when the entry is evicted. The least recently used go first once the entries take more than
`max_bytes` (SOURCE_CACHE_BYTES; 0, the default, keeps none: the temp directory's disk must have the room).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_NOT_IN_A_NAME = re.compile(r"[^0-9A-Za-z-]")


def object_key(etag: str, size: int) -> str:
    """The entry name of an object: its ETag (quotes and all but hex digits and dashes dropped) and its size."""
    return f"{_NOT_IN_A_NAME.sub('', etag)}-{size}"


class ObjectCache:
    """Files under `root`, at most `max_bytes` of them; every method blocks (call it in a thread)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # one eviction at a time; links in and out need none

    @property
    def enabled(self) -> bool:
        """False when it may keep nothing."""
        return self.max_bytes > 0

    def link_out(self, key: str, dest: Path) -> bool:
        """Give `dest` the entry `key` (a hard link) and count it as just used; False when there is no such entry."""
        entry = self.root / key
        try:
            os.link(entry, dest)
        except FileNotFoundError:  # never kept, or evicted a moment ago
            return False
        except OSError as exc:  # another filesystem, say: the download goes on as if there were no entry
            log.warning("cannot link the cached %s into the job (%s); downloading it", key, exc.strerror)
            return False
        with contextlib.suppress(FileNotFoundError):
            os.utime(entry)  # the eviction's clock
        return True

    def keep(self, key: str, src: Path) -> None:
        """Keep `src` (a job's file, on this filesystem) as the entry `key`, then evict past `max_bytes`."""
        part = self.root / f".{key}.{os.getpid()}.{threading.get_ident()}"
        try:
            if not self.enabled or src.stat().st_size > self.max_bytes:
                return
            self.root.mkdir(parents=True, exist_ok=True)
            os.link(src, part)
            os.replace(part, self.root / key)
            os.utime(self.root / key)  # just used
            self.evict()
        except FileNotFoundError:  # an eviction beside it took the half-added entry: it is kept next time
            return
        except OSError as exc:  # a cache that cannot keep is no job's failure: the next edit downloads
            part.unlink(missing_ok=True)
            log.warning("cannot keep %s in the source cache (%s)", key, exc.strerror)

    def evict(self) -> None:
        """Remove the least recently used entries until the rest fit in `max_bytes`."""
        with self._lock:
            entries = []
            for path in self.root.iterdir():
                if path.name.startswith("."):  # half-added: by a process killed mid-way, or (rarely) right now
                    path.unlink(missing_ok=True)
                    continue
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    entries.append((stat.st_mtime, stat.st_size, path))
            total = sum(size for _, size, _ in entries)
            for _, size, path in sorted(entries):
                if total <= self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size
