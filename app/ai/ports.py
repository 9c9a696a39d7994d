"""What AI ranking talks to: the transcript cache and the cost ledger (Protocols), and the data they hold.

Each port has a PostgreSQL adapter (`app/db/transcripts.py`, `app/db/ledger.py`) for the service and an
in-memory one (`app/ai/memory.py`) for `smartedit process`; one conformance test runs both through the
same cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from app.domain.result import AIReport


class Cue(BaseModel):
    """A timed line of speech, in seconds from the start of the range it was heard in."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    text: str


class Word(BaseModel):
    """One word heard, in seconds from the start of the range it was heard in, as the provider wrote it."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    word: str

    @property
    def ends_sentence(self) -> bool:
        """Whether a sentence ends with this word (the provider's punctuation: . ! or ?)."""
        return self.word.rstrip("\"')»”’ ").endswith((".", "!", "?"))


class Transcript(BaseModel):
    """What was said in one range of a source; `words` is empty for transcripts stored before words were asked."""

    model_config = ConfigDict(frozen=True)

    text: str
    cues: list[Cue] = []
    words: list[Word] = []


@dataclass(frozen=True)
class TranscriptKey:
    """A transcript's identity: the source's bytes (SHA-256), the range in milliseconds, and the model."""

    source_sha256: str
    start_ms: int
    end_ms: int
    model: str

    @classmethod
    def of(cls, source_sha256: str, start: float, end: float, model: str) -> TranscriptKey:
        """The key of the range [start, end) seconds."""
        return cls(source_sha256, round(start * 1000), round(end * 1000), model)


class TranscriptCache(Protocol):
    """Transcripts already paid for, shared by every job on the same source."""

    async def get(self, key: TranscriptKey) -> Transcript | None:
        """The transcript stored under `key`, or None."""
        ...

    async def put(self, key: TranscriptKey, transcript: Transcript) -> None:
        """Store a transcript (a second put of the same key keeps the first)."""
        ...


@dataclass(frozen=True)
class Charge:
    """A paid call about to be made: who pays, what for, and its worst-case cost."""

    job_id: str
    api_name: str  # the metric's label: "openai" for any OpenAI-compatible provider
    operation: str  # "transcribe" or "rank"
    model: str
    reserved_usd: float
    units: dict[str, Any] = field(default_factory=dict)  # what the worst case assumed (audio seconds, tokens)


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the ledger; `cost_usd` is None while the call is reserved and not yet settled."""

    id: int
    job_id: str
    api_name: str
    operation: str
    model: str
    reserved_usd: float
    cost_usd: float | None
    units: dict[str, Any]

    @property
    def counted_usd(self) -> float:
        """What the entry counts toward the budget: its cost, or its reservation while unsettled."""
        return self.reserved_usd if self.cost_usd is None else self.cost_usd


class CostLedger(Protocol):
    """Every paid call, per job: reserved before it is made, settled after; a job's budget is never passed."""

    async def reserve(self, charge: Charge, *, limit_usd: float) -> int | None:
        """Record `charge`, returning its entry id; None (nothing recorded) if the job's total would pass the limit."""
        ...

    async def settle(self, entry_id: int, *, cost_usd: float, units: dict[str, Any]) -> float | None:
        """Close an open entry at what the call cost, with the units the provider reported; returns the USD recorded.

        The cost is capped at the reservation: the budget was checked against that worst case, so the job's total
        never passes BUDGET_LIMIT after the fact. An entry already closed is left as it is (None): each entry is
        counted once, however many times it is settled.
        """
        ...

    async def spent(self, job_id: str) -> float:
        """The job's total: settled costs plus open reservations."""
        ...

    async def entries(self, job_id: str) -> list[LedgerEntry]:
        """The job's entries, oldest first."""
        ...


@dataclass(frozen=True)
class Window:
    """A candidate clip the offline picker proposes: a range of the source, edges already in pauses."""

    start: float
    end: float
    score: float


@dataclass(frozen=True)
class RankRequest:
    """What the ranker is asked: which `keep` of these windows (offline preference first) make the reel."""

    job_id: str
    source: str  # a local file ffmpeg reads
    source_sha256: str
    has_audio: bool
    windows: list[Window]
    keep: int


@dataclass(frozen=True)
class Ranking:
    """The ranker's answer: windows chosen (indices, best first), their titles, every transcript at hand."""

    chosen: list[int]
    titles: dict[int, str]
    transcripts: dict[int, Transcript]
    report: AIReport


class ProviderError(Exception):
    """A call that did not give a usable answer; `reason` is a stable word, `billed` whether it may have cost."""

    def __init__(self, reason: str, detail: str, *, billed: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.billed = billed


@dataclass(frozen=True)
class Heard:
    """A transcription: what was said, and the seconds the provider says it billed (None: not reported)."""

    transcript: Transcript
    billed_seconds: float | None


@dataclass(frozen=True)
class Answer:
    """A chat completion's content (JSON, if the provider kept to the schema) and the tokens it reported."""

    content: str
    prompt_tokens: int
    completion_tokens: int


class Provider(Protocol):
    """An OpenAI-compatible provider: speech to text, and one chat call constrained to a JSON schema."""

    async def transcribe(self, wav: bytes, *, model: str) -> Heard:
        """What is said in a WAV file, with segment timings; ProviderError when there is no usable answer."""
        ...

    async def chat_json(
        self, messages: list[dict[str, str]], *, model: str, max_tokens: int, schema: dict[str, Any]
    ) -> Answer:
        """One chat completion held to `schema`: its raw content and token usage; ProviderError on failure."""
        ...

    async def close(self) -> None:
        """Close the provider's connections."""
        ...


class Ranker(Protocol):
    """Chooses among the offline picker's windows; never raises for a provider's failure (the report says why)."""

    async def rank(self, request: RankRequest) -> Ranking:
        """The windows to keep, or the offline picker's first `keep` with the reason AI did not decide."""
        ...
