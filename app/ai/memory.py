"""In-memory adapters of the AI ports: for `smartedit process`, which runs one job and keeps nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from app.ai.ports import Charge, LedgerEntry, Transcript, TranscriptKey


class MemoryTranscripts:
    """A TranscriptCache held in a dict."""

    def __init__(self) -> None:
        self._data: dict[TranscriptKey, Transcript] = {}

    async def get(self, key: TranscriptKey) -> Transcript | None:
        """The transcript stored under `key`, or None."""
        return self._data.get(key)

    async def put(self, key: TranscriptKey, transcript: Transcript) -> None:
        """Store a transcript (a second put of the same key keeps the first)."""
        self._data.setdefault(key, transcript)


class MemoryLedger:
    """A CostLedger held in a list; a lock makes check-and-reserve one step, as the SQL adapter's is."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._lock = asyncio.Lock()

    async def reserve(self, charge: Charge, *, limit_usd: float) -> int | None:
        """Record `charge` and return its entry id; None when the job's total would pass `limit_usd`."""
        async with self._lock:
            if round(await self.spent(charge.job_id) + charge.reserved_usd, 6) > limit_usd:
                return None
            entry = LedgerEntry(
                id=len(self._entries) + 1,
                job_id=charge.job_id,
                api_name=charge.api_name,
                operation=charge.operation,
                model=charge.model,
                reserved_usd=charge.reserved_usd,
                cost_usd=None,
                units=dict(charge.units),
            )
            self._entries.append(entry)
            return entry.id

    async def settle(self, entry_id: int, *, cost_usd: float, units: dict[str, Any]) -> float | None:
        """Close an open entry at what the call cost, at most its reservation; None when it was closed already."""
        entry = self._entries[entry_id - 1]
        if entry.cost_usd is not None:
            return None
        cost = min(cost_usd, entry.reserved_usd)
        self._entries[entry_id - 1] = replace(entry, cost_usd=cost, units=dict(units))
        return cost

    async def spent(self, job_id: str) -> float:
        """The job's total: settled costs plus open reservations."""
        return round(sum(e.counted_usd for e in self._entries if e.job_id == job_id), 6)

    async def entries(self, job_id: str) -> list[LedgerEntry]:
        """The job's entries, oldest first."""
        return [e for e in self._entries if e.job_id == job_id]
