"""The talk the AI ranking tests share, a service that ranks through the fake provider, and the checks on its reels."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from app.ai.ports import LedgerEntry
from app.config import Settings
from app.config.settings import DEFAULT_AI_PRICES
from app.db import create_pool
from app.db.ledger import PgLedger
from tests.conftest import Infra, make_settings
from tests.support.cache import SourceCache
from tests.support.jobs import submit, wait_final
from tests.support.media import make_source
from tests.support.openai_server import FakeOpenAI

SECONDS = 80.0
QUIET = ((20.0, 40.0), (60.0, 80.0))  # where the source is quiet; the fake hears the secret there
LOUD = ((0.0, 20.0), (40.0, 60.0))
SECRET = "Here is the secret everyone came for. Write it down."
FILLER = "Small talk about the weather. More of it."
# One 15 s clip of an 80 s source: quick to render.
OUTPUT: dict[str, Any] = {"max_duration": 15, "preset": "ultrafast"}
FPS = 25
AI_TIMEOUT = 5.0  # seconds: the services' AI_TIMEOUT_SECONDS


def hearing(level_dbfs: float) -> str:
    return SECRET if level_dbfs < -30 else FILLER  # the loud passages measure about −21 dBFS, the quiet −33


def ai_settings(infra: Infra, root: Path, fake: FakeOpenAI, **overrides: object) -> Settings:
    """A service using the fake provider; a transcription model of its own (at whisper-1's price) keeps the shared
    cache out of it."""
    hearing = f"whisper-{uuid.uuid4().hex[:8]}"
    values: dict[str, object] = {
        "ai_base_url": fake.url,
        "ai_transcribe_model": hearing,
        "ai_prices": {hearing: DEFAULT_AI_PRICES["whisper-1"]},
        # Room for a loaded machine: the fake answers in milliseconds idle, but shares the test's process and cores.
        "ai_timeout_seconds": AI_TIMEOUT,
        "ai_max_retries": 1,
    }
    return make_settings(infra, root, **(values | overrides))


def talk_source(sources: SourceCache, media_root: Path) -> str:
    """An 80 s talk: 20 s loud, 20 s quiet, twice (a passage holds a 15 s clip with room for its edges)."""
    levels = (-18.0, -30.0, -18.0, -30.0)
    return sources.link(
        "ai_talk.mp4", media_root, lambda p: make_source(p, seconds=SECONDS, size="160x90", levels_lufs=levels)
    )


async def run_job(client: httpx.AsyncClient, talk: str) -> dict[str, Any]:
    job = await wait_final(client, (await submit(client, talk, output=OUTPUT))["id"], timeout=120)
    assert job["status"] == "completed", job["error"]
    return job


def within(clip: tuple[float, float], spans: tuple[tuple[float, float], ...]) -> bool:
    return any(a - 0.05 <= clip[0] and clip[1] <= b + 0.05 for a, b in spans)


def clips(job: dict[str, Any]) -> list[tuple[float, float]]:
    """The reel's clips, checked against every rule of automatic picks on the way."""
    segments = job["result"]["segments"]
    assert 1 <= len(segments) <= 1  # max_duration 15 over an 80 s source keeps one clip
    assert sum(s["end"] - s["start"] for s in segments) <= OUTPUT["max_duration"] + 1 / FPS
    for s in segments:
        assert 15 - 1 / FPS <= s["end"] - s["start"] <= 60, s
        assert s["start"] >= 0 and s["end"] <= SECONDS, s
        assert abs(s["start"] * FPS - round(s["start"] * FPS)) < 1e-6, "not on the frame grid"
    return [(s["start"], s["end"]) for s in segments]


async def ledger_of(settings: Settings, job_id: str) -> tuple[list[LedgerEntry], float]:
    """The job's ledger entries and total, read from the service's database."""
    pool = await create_pool(settings.postgres_dsn, max_size=2)
    try:
        ledger = PgLedger(pool)
        return await ledger.entries(job_id), await ledger.spent(job_id)
    finally:
        await pool.close()


def cost_counted(exposition: str | None = None) -> float:
    """video_processing_cost_usd_total{api_name="openai"}: this process's, or in a scraped /metrics page."""
    if exposition is None:
        return REGISTRY.get_sample_value("video_processing_cost_usd_total", {"api_name": "openai"}) or 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "video_processing_cost_usd_total" and sample.labels == {"api_name": "openai"}:
                return sample.value
    return 0.0
