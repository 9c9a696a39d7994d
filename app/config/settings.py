"""Every setting of the service, read from the environment in this one place."""

from __future__ import annotations

import ipaddress
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.domain.spec import MAX_HIGHLIGHTS_CEILING

# USD per audio minute (speech to text), per 1,000 prompt and per 1,000 completion tokens (chat).
PRICE_UNITS = ("audio_minute", "input_1k", "output_1k")
# The models AI ranking uses by default, at OpenAI's prices; AI_PRICES adds others (a local server's at 0).
DEFAULT_AI_PRICES: dict[str, dict[str, float]] = {
    "whisper-1": {"audio_minute": 0.006},
    "gpt-4o-mini": {"input_1k": 0.00015, "output_1k": 0.0006},
}


class Settings(BaseSettings):
    """Service configuration; each field is the upper-case env var of the same name.

    The brief's names are kept (POSTGRES_*, REDIS_*, CHECKPOINT_TTL, FFMPEG_PATH, TEMP_DIR,
    PROMETHEUS_PORT, BUDGET_LIMIT, MAX_POOL_SIZE). With no POSTGRES_HOST / REDIS_HOST,
    `smartedit serve` starts embedded servers under DATA_DIR and fills these in.
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # PostgreSQL: job store. None means "start the embedded server" (serve only).
    postgres_host: str | None = None
    postgres_port: int = 5432
    postgres_db: str = "smartedit"
    postgres_user: str = "postgres"
    postgres_password: str = ""
    max_pool_size: int = Field(default=32, ge=2)

    # Redis: stage checkpoints. None means "start the embedded server" (serve only).
    redis_host: str | None = None
    redis_port: int = 6379
    redis_db: int = 0
    redis_password: str = ""
    checkpoint_ttl: int = Field(default=86_400, ge=60, description="seconds a checkpoint is kept")

    # Media and files.
    ffmpeg_path: str | None = Field(default=None, description="ffmpeg binary; ffprobe is looked up beside it")
    media_root: Path = Path("media")
    output_root: Path = Path("output")
    temp_dir: Path = Path(".smartedit/tmp")
    data_dir: Path = Path(".smartedit")

    # Storage: where sources are read from and reels written to. None keeps MEDIA_ROOT/OUTPUT_ROOT on this disk.
    storage_url: str | None = Field(default=None, description="s3://bucket/prefix: reels and uploads in S3")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, Ceph); AWS if unset")
    s3_public_endpoint_url: str | None = Field(
        default=None, description="the endpoint clients reach for presigned downloads, when not S3_ENDPOINT_URL"
    )
    input_s3_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="s3://bucket/prefix list that input_url may read from"
    )
    presign_seconds: int = Field(default=900, ge=60, le=7 * 86_400, description="life of a presigned download URL")
    # botocore's own defaults (60 s to connect, times 5 tries) hold a publish for 5 minutes on a dead endpoint.
    s3_max_attempts: int = Field(default=5, ge=1, le=20, description="tries of one S3 request, the first included")
    s3_connect_timeout_seconds: float = Field(default=5.0, gt=0, description="time to open a connection to S3")
    s3_read_timeout_seconds: float = Field(default=30.0, gt=0, description="time S3 may stay silent mid-request")
    source_cache_bytes: int = Field(
        default=0,
        ge=0,
        description="bytes of S3 sources a worker keeps under TEMP_DIR for the jobs based on them (the Studio's "
        "edits), least recently used out first; 0: none",
    )
    input_allow_private: bool = Field(default=False, description="let input_url reach private/loopback addresses")
    input_allow_http: bool = Field(default=False, description="accept http:// input URLs (https:// always)")
    input_fetch_seconds: float = Field(default=1800.0, gt=0, description="time limit of one input_url download")
    max_input_bytes: int = Field(default=20 << 30, ge=1024, description="largest source accepted (upload or URL)")
    upload_ttl: int = Field(default=86_400, ge=60, description="seconds an upload no job uses is kept")
    max_uploads_per_key: int = Field(default=100, ge=1, description="stored uploads one API key may have")
    max_upload_bytes_per_key: int = Field(
        default=100 << 30, ge=1024, description="bytes of stored uploads one API key may have"
    )
    output_ttl: int = Field(default=7 * 86_400, ge=60, description="seconds a reel is kept after its job completes")
    job_retention: int = Field(default=90 * 86_400, ge=3600, description="seconds a finished job is kept")
    public_base_url: str | None = Field(default=None, description="how clients reach the API; builds output_url")

    # HTTP and metrics.
    port: int = 8000
    host: str = "127.0.0.1"
    prometheus_port: int | None = Field(default=None, description="separate /metrics port for `smartedit worker`")
    metrics_token: str | None = Field(
        default=None, description="when set, the API's /metrics answers only `Authorization: Bearer <token>`"
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one object a line, with request and job ids; text: for a terminal"
    )
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    admin_api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="keys that see and cancel every key's jobs"
    )
    allow_open_api: bool = Field(
        default=False, description="serve on a non-loopback address with no API_KEYS (anyone may submit)"
    )

    # Runner.
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    lease_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)

    # The `smartedit` client commands (submit, status, list, cancel, watch): which API, with which key.
    smartedit_url: str = "http://127.0.0.1:8000"
    smartedit_api_key: str | None = None

    # Webhooks.
    webhook_secret: str | None = None
    webhook_allow_private: bool = False

    # Limits and cost.
    budget_limit: float = Field(default=4.00, ge=0, description="USD a job may spend on paid APIs (never passed)")
    max_source_seconds: float = Field(default=4 * 3600, gt=0)
    render_parallelism: int = Field(default=1, ge=1, le=8)
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="larger request bodies are a 413")
    max_highlights: int = Field(default=100, ge=1, le=MAX_HIGHLIGHTS_CEILING, description="highlights one job may list")
    max_queued_per_key: int = Field(default=100, ge=1, description="queued jobs one API key may have")
    rate_limit_per_minute: int = Field(default=1200, ge=0, description="requests per API key per minute; 0: no limit")

    # AI ranking through an OpenAI-compatible provider: on when AI_API_KEY or AI_BASE_URL is set.
    ai_base_url: str | None = Field(default=None, description="an OpenAI-compatible API (…/v1); None: OpenAI's own")
    ai_api_key: str | None = Field(default=None, description="the provider's key; local servers may need none")
    ai_transcribe_model: str = Field(default="whisper-1", description="speech-to-text model (verbose_json segments)")
    ai_rank_model: str = Field(default="gpt-4o-mini", description="chat model that ranks the candidate clips")
    ai_prices: Annotated[dict[str, dict[str, float]], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_AI_PRICES),
        description='USD per model, JSON: {"<model>": {"audio_minute": …} or {"input_1k": …, "output_1k": …}}, '
        "added to whisper-1's and gpt-4o-mini's (or re-pricing them); a model with no price makes no paid call",
    )
    # The contract's first names for prices: each prices the model in use for it, over its AI_PRICES entry.
    ai_price_audio_minute: float | None = Field(
        default=None, ge=0, description="USD per audio minute of AI_TRANSCRIBE_MODEL: its AI_PRICES entry"
    )
    ai_price_input_1k: float | None = Field(
        default=None, ge=0, description="USD per 1,000 prompt tokens of AI_RANK_MODEL: its AI_PRICES entry"
    )
    ai_price_output_1k: float | None = Field(
        default=None, ge=0, description="USD per 1,000 completion tokens of AI_RANK_MODEL: its AI_PRICES entry"
    )
    ai_timeout_seconds: float = Field(default=60.0, gt=0, description="time limit of one provider request")
    ai_max_retries: int = Field(default=2, ge=0, le=10, description="retries of a 429, 5xx or dropped connection")
    ai_max_tokens: int = Field(default=1024, ge=64, le=16_384, description="completion tokens the ranking may use")

    @field_validator("media_root", "output_root", "temp_dir", "data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Relative defaults are relative to where the service starts; ffmpeg and the concat lists
        # it reads must not depend on any other working directory.
        return value.expanduser().absolute()

    @field_validator("api_keys", "admin_api_keys", "input_s3_allow", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("ai_prices", mode="before")
    @classmethod
    def _price_table(cls, value: object) -> object:
        if isinstance(value, str):  # the environment's JSON; empty (compose passes unset variables so) adds none
            value = json.loads(value) if value.strip() else {}
        return DEFAULT_AI_PRICES | value if isinstance(value, dict) else value

    @field_validator("ai_prices")
    @classmethod
    def _known_prices(cls, table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for model, prices in table.items():
            if unknown := set(prices) - set(PRICE_UNITS):
                known = ", ".join(PRICE_UNITS)
                raise ValueError(f"AI_PRICES: {model} has {', '.join(sorted(unknown))}; a price is one of {known}")
            if any(usd < 0 for usd in prices.values()):
                raise ValueError(f"AI_PRICES: {model} has a negative price")
        return table

    @model_validator(mode="after")
    def _prices_of_models_in_use(self) -> Settings:
        # AI_PRICE_* price the models in use, over what AI_PRICES says of them (they are the more specific).
        units = {
            "audio_minute": self.ai_transcribe_model,
            "input_1k": self.ai_rank_model,
            "output_1k": self.ai_rank_model,
        }
        for unit, model in units.items():
            if (usd := getattr(self, f"ai_price_{unit}")) is not None:
                self.ai_prices = self.ai_prices | {model: self.ai_prices.get(model, {}) | {unit: usd}}
        return self

    @cached_property
    def postgres_dsn(self) -> str:
        """asyncpg DSN for the configured (or embedded) PostgreSQL."""
        password = f":{quote(self.postgres_password, safe='')}" if self.postgres_password else ""
        user, db = quote(self.postgres_user, safe=""), quote(self.postgres_db, safe="")
        return f"postgresql://{user}{password}@{self.postgres_host}:{self.postgres_port}/{db}"

    @cached_property
    def redis_url(self) -> str:
        """redis-py URL for the configured (or embedded) Redis."""
        password = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return f"redis://{password}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    @property
    def base_url(self) -> str:
        """The URL clients use for this API (PUBLIC_BASE_URL, else where it listens), without a trailing slash."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def upload_temp_dir(self) -> Path:
        """Where the API writes an upload while it arrives (`.upload-<id>.part`), before the media store has it."""
        return self.temp_dir / "uploads"

    @property
    def ai_enabled(self) -> bool:
        """True when an AI provider is configured (a key for OpenAI, or the URL of a compatible server)."""
        return bool(self.ai_api_key or self.ai_base_url)

    @property
    def open_api(self) -> bool:
        """True when no API key is configured: every caller is the one anonymous client."""
        return not (self.api_keys or self.admin_api_keys)

    def open_api_refusal(self) -> str | None:
        """Why the API must not start as configured (open on a non-loopback address), or None."""
        if not self.open_api or self.allow_open_api or _loopback(self.host):
            return None
        return (
            f"refusing to serve the API on {self.host} with no API_KEYS: anyone who can reach it could submit jobs "
            "and read every job. Set API_KEYS (comma-separated), listen on 127.0.0.1 (HOST), or set "
            "ALLOW_OPEN_API=true if something in front of the service already authenticates callers."
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
