"""How far a decode has got, in source seconds, reported to a callback twice a second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from app.media.ffmpeg import ProgressCallback

_PROGRESS_SECONDS = 0.5


class Progress:
    """Decoded source time, written by reader threads, reported from the event loop twice a second."""

    def __init__(self, total: float, callback: ProgressCallback | None) -> None:
        self.total = total
        self.callback = callback
        self.done = 0.0  # seconds of finished windows
        self.current = 0.0  # seconds into the running window

    def seen(self, seconds: float) -> None:
        self.current = max(self.current, seconds)

    def finish_window(self, seconds: float) -> None:
        self.done += seconds
        self.current = 0.0

    async def tick(self) -> None:
        last = -1.0
        while True:
            await asyncio.sleep(_PROGRESS_SECONDS)
            fraction = min((self.done + self.current) / self.total, 1.0)
            if fraction != last:
                last = fraction
                await self.report(fraction)

    async def report(self, fraction: float) -> None:
        if self.callback is not None:
            result = self.callback(fraction)
            if isinstance(result, Awaitable):
                await result
