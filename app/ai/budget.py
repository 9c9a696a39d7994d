"""What a paid call may cost at worst, what it did cost, and the per-job budget that reserves before each call."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.ai.ports import Charge, CostLedger
from app.ops import metrics

log = logging.getLogger(__name__)

API_NAME = "openai"  # the brief's label: any OpenAI-compatible provider is billed (or not) the OpenAI way
_MESSAGE_OVERHEAD_TOKENS = 8  # role and separators the chat format adds per message


@dataclass(frozen=True)
class Prices:
    """USD per audio minute the transcription model hears, per 1,000 prompt and completion tokens of the ranking one."""

    audio_minute: float
    input_1k: float
    output_1k: float

    def audio(self, seconds: float) -> float:
        """What `seconds` of audio cost to transcribe."""
        return round(seconds / 60.0 * self.audio_minute, 6)

    def tokens(self, prompt: int, completion: int) -> float:
        """What a chat call of these token counts costs."""
        return round(prompt / 1000.0 * self.input_1k + completion / 1000.0 * self.output_1k, 6)


class Unpriced(Exception):
    """A model has no price for the calls it would make (AI_PRICES): none is made, the offline choice stands."""


def prices_for(table: Mapping[str, Mapping[str, float]], *, transcribe: str, rank: str) -> Prices:
    """The prices of this pair of models from a table of USD per model; Unpriced names each one it lacks.

    One price set for every model would bill a larger model at a smaller one's rates (gpt-4o at gpt-4o-mini's
    is about 16 times too little), and the budget would pass BUDGET_LIMIT unseen: an unknown model is refused.
    """
    hearing, ranking = table.get(transcribe, {}), table.get(rank, {})
    needs = ((transcribe, hearing, ("audio_minute",)), (rank, ranking, ("input_1k", "output_1k")))
    if missing := [model for model, prices, units in needs if any(u not in prices for u in units)]:
        raise Unpriced(" and ".join(dict.fromkeys(missing)))
    return Prices(hearing["audio_minute"], ranking["input_1k"], ranking["output_1k"])


def audio_seconds_billed(seconds: float) -> float:
    """Audio is billed by the second, rounded up: the worst case of a range of `seconds`."""
    return float(math.ceil(seconds))


def prompt_tokens_at_most(messages: list[dict[str, str]]) -> int:
    """An upper bound of a prompt's tokens, with no tokenizer: every token of a byte-level BPE covers ≥ 1 byte."""
    return sum(len(m["content"].encode()) + _MESSAGE_OVERHEAD_TOKENS for m in messages) + _MESSAGE_OVERHEAD_TOKENS


class BudgetRefused(Exception):
    """The call's worst case would take the job past BUDGET_LIMIT: it is not made."""


class JobBudget:
    """One job's spending: each call reserved at its worst case in the ledger first, settled with its usage after."""

    def __init__(self, ledger: CostLedger, job_id: str, *, limit_usd: float) -> None:
        self.ledger = ledger
        self.job_id = job_id
        self.limit_usd = limit_usd

    async def reserve(self, operation: str, model: str, worst_usd: float, units: dict[str, Any]) -> int:
        """Reserve a call's worst case; BudgetRefused when the job's total would pass the limit."""
        charge = Charge(self.job_id, API_NAME, operation, model, round(worst_usd, 6), units)
        entry = await self.ledger.reserve(charge, limit_usd=self.limit_usd)
        if entry is None:
            raise BudgetRefused(f"{operation} would pass the job's budget of ${self.limit_usd:.2f}")
        return entry

    async def settle(self, entry: int, cost_usd: float, units: dict[str, Any]) -> None:
        """Record what the call cost, at most its reservation; the metric counts what the ledger recorded, once."""
        cost_usd = round(cost_usd, 6)
        recorded = await self.ledger.settle(entry, cost_usd=cost_usd, units=units)
        if recorded is not None and recorded < cost_usd:
            log.warning("job %s: call %d reported $%.6f, above its worst case; counted at its reservation, $%.6f",
                        self.job_id, entry, cost_usd, recorded)  # fmt: skip
        if recorded:
            metrics.cost.labels(API_NAME).inc(recorded)

    async def spent(self) -> float:
        """The job's total so far, from the ledger."""
        return await self.ledger.spent(self.job_id)
