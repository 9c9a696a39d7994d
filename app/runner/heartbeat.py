"""The lease heartbeat of a running job: renewed every third of its length, and the news when it is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from app.db import JobStore
from app.ops.outages import log_trouble

log = logging.getLogger(__name__)


@dataclass
class Heartbeat:
    """Renews a job's lease every third of its length; calls `on_lost` when it is gone or cancelled."""

    store: JobStore
    job_id: uuid.UUID
    token: uuid.UUID
    lease_seconds: float
    on_lost: Callable[[str], None]  # called with "lease" or "cancel"
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._beat(), name=f"heartbeat-{self.job_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task:
            await self._task

    async def _beat(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.lease_seconds / 3)
                return
            try:
                held, cancel = await self.store.renew(self.job_id, self.token, self.lease_seconds)
            except Exception:  # a blip in the database: keep beating, the lease has slack
                log_trouble(log, "lease renewal of %s failed; retrying", self.job_id)
                continue
            if not held:
                self.on_lost("lease")
                return
            if cancel:
                self.on_lost("cancel")
