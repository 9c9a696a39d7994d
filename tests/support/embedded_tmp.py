"""A temp directory for embedded servers, outside pytest's temp root.

The embedded PostgreSQL runs as a user of its own (postgres refuses root), which must traverse every
directory above its data. Each pytest session that starts makes its temp root (`pytest-of-<user>`) private
again (mode 0700): a second session on the machine, started while a server runs, cuts that server off from
its own files (PANIC: could not open pg_control: Permission denied). The system temp directory stays open.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def outside_pytest_root() -> Iterator[Path]:
    """A fresh directory in the system temp directory, removed afterwards (a fixture's body)."""
    path = Path(tempfile.mkdtemp(prefix="smartedit-embedded-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
