"""The transcript cache in PostgreSQL: a range of a source is paid for once, whichever job asks."""

from __future__ import annotations

import asyncpg

from app.ai.ports import Cue, Transcript, TranscriptKey, Word
from app.db.pool import once_more_on_lost_connection


class PgTranscripts:
    """A TranscriptCache over the `transcripts` table (migrations 006, 007)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @once_more_on_lost_connection
    async def get(self, key: TranscriptKey) -> Transcript | None:
        """The transcript stored under `key`, or None; a hit counts as a use (retention keeps what is used)."""
        row = await self.pool.fetchrow(
            "UPDATE transcripts SET used_at = now() WHERE source_sha256 = $1 AND start_ms = $2 AND end_ms = $3 "
            "AND model = $4 RETURNING text, cues, words",
            key.source_sha256,
            key.start_ms,
            key.end_ms,
            key.model,
        )
        if row is None:
            return None
        return Transcript(
            text=row["text"],
            cues=[Cue.model_validate(c) for c in row["cues"]],
            words=[Word.model_validate(w) for w in row["words"]],
        )

    @once_more_on_lost_connection
    async def put(self, key: TranscriptKey, transcript: Transcript) -> None:
        """Store a transcript (a second put of the same key keeps the first)."""
        await self.pool.execute(
            "INSERT INTO transcripts (source_sha256, start_ms, end_ms, model, text, cues, words) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            key.source_sha256,
            key.start_ms,
            key.end_ms,
            key.model,
            transcript.text,
            [c.model_dump() for c in transcript.cues],
            [w.model_dump() for w in transcript.words],
        )
