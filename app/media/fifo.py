"""Named pipes that ffmpeg writes and a Python thread reads, opened so that no open() ever blocks."""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Let ffmpeg run ~18 small frames ahead of a consumer; 1 MiB is the unprivileged maximum on Linux.
PIPE_BYTES = 1 << 20
_POLL_MS = 100
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class Fifo:
    """A FIFO at `path` whose read end is open (non-blocking) before any writer exists.

    Opening the read end first means ffmpeg's open() for writing returns at once, whatever order it opens
    its outputs in: no open-order deadlock. The path is unlinked as soon as the writer is seen, so a
    kill -9 afterwards leaves nothing on disk.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path, 0o600)
        try:
            self.fd: int | None = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except BaseException:
            self.unlink()
            raise
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.fd, _F_SETPIPE_SZ, PIPE_BYTES)

    def unlink(self) -> None:
        """Remove the path (the pipe itself lives on while either end is open)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def close(self) -> None:
        """Close the read end (the writer then gets EPIPE) and unlink the path."""
        self.unlink()
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def wait_for_writer(self, gone: threading.Event) -> bool:
        """Block until the writer has written or closed; False if `gone` was set first (the writer never came)."""
        assert self.fd is not None
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        # Linux reports a FIFO readable only once a writer has been there, so this waits for ffmpeg.
        while not poller.poll(_POLL_MS):
            if gone.is_set():
                return False
        self.unlink()
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return True

    def read_into(self, buffer: memoryview) -> int:
        """Fill `buffer` with blocking reads; fewer bytes only at end of stream."""
        assert self.fd is not None
        filled = 0
        while filled < len(buffer):
            got = os.readv(self.fd, [buffer[filled:]])
            if got == 0:
                break
            filled += got
        return filled


def pump(
    fifo: Fifo,
    shape: tuple[int, ...],
    dtype: type[np.uint8] | type[np.int16],
    deliver: Callable[[int, npt.NDArray[Any]], None],
    stop: threading.Event,
    writer_gone: threading.Event,
    *,
    partial_last: bool = False,
) -> int:
    """Thread body: read arrays of `shape` until end of stream or `stop`, hand each to `deliver(index, array)`.

    `writer_gone` says ffmpeg has exited: only a reader still waiting for it to open the pipe gives up then; data
    already in the pipe is still delivered. Returns how many arrays were delivered. Each array is freshly
    allocated, so a consumer may keep it. A short last read is delivered only with `partial_last` (audio, cut to
    whole rows of `shape[1:]`); a short frame is dropped. The thread owns the fd and closes it.
    """
    try:
        if not fifo.wait_for_writer(writer_gone):
            return 0
        count = 0
        while not stop.is_set():
            array = np.empty(shape, dtype)
            got = fifo.read_into(array.data.cast("B"))
            if got < array.nbytes:
                row = array.itemsize * math.prod(shape[1:])  # one sample of every channel
                if partial_last and got >= row:
                    deliver(count, array.reshape(-1, *shape[1:])[: got // row])
                    count += 1
                break
            deliver(count, array)
            count += 1
        return count
    finally:
        fifo.close()
