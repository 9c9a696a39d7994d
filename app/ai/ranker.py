"""AI ranking: transcribe the offline picker's windows (cached), let one chat call choose, within the job's budget.

Only the candidate windows are heard, each re-extracted by seeking (never the whole source). Every paid call
is reserved at its worst case in the ledger first and settled with the provider's usage after. Whatever goes
wrong with the provider, the offline picker's choice stands and the report says why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.ai import prompt
from app.ai.budget import (
    BudgetRefused,
    JobBudget,
    Prices,
    Unpriced,
    audio_seconds_billed,
    prices_for,
    prompt_tokens_at_most,
)
from app.ai.ports import (
    AIReport,
    CostLedger,
    Provider,
    ProviderError,
    Ranking,
    RankRequest,
    Transcript,
    TranscriptCache,
    TranscriptKey,
    Window,
)
from app.media.ffmpeg import FFmpegError
from app.media.speech import range_wav

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Models:
    """Which model hears, which ranks, and at most how many tokens the ranking may write."""

    transcribe: str
    rank: str
    max_tokens: int


class AIRanker:
    """A Ranker over an OpenAI-compatible provider, a transcript cache and a cost ledger.

    `prices` are USD per model (AI_PRICES), which turn usage into money: a model not in it makes no paid call;
    `budget_limit` is the most a job may spend (BUDGET_LIMIT); `ffmpeg` extracts each window's sound.
    """

    def __init__(
        self,
        provider: Provider,
        transcripts: TranscriptCache,
        ledger: CostLedger,
        *,
        ffmpeg: str,
        models: Models,
        prices: Mapping[str, Mapping[str, float]],
        budget_limit: float,
    ) -> None:
        self.provider = provider
        self.transcripts = transcripts
        self.ledger = ledger
        self.ffmpeg = ffmpeg
        self.models = models
        self.prices = prices
        self.budget_limit = budget_limit

    async def rank(self, request: RankRequest) -> Ranking:
        """The windows to keep, best first; the offline picker's first `keep` when AI cannot decide."""
        run = _Run(request, JobBudget(self.ledger, request.job_id, limit_usd=self.budget_limit))
        if not request.has_audio:
            return await run.offline("no_audio")
        if len(request.windows) <= request.keep:
            return await run.offline("no_choice")  # nothing to choose: no money spent for the same clips
        try:
            prices = prices_for(self.prices, transcribe=self.models.transcribe, rank=self.models.rank)
        except Unpriced as exc:
            log.warning("job %s: AI ranking makes no paid call: AI_PRICES has no price for %s", request.job_id, exc)
            return await run.offline("unpriced")
        try:
            await self._cached(run)
            windows = await self._affordable(run, prices)
            for i in windows:
                if i not in run.transcripts:
                    await self._transcribe(run, i, prices)
            chosen = await self._choose(run, windows, prices)
        except BudgetRefused:
            return await run.offline("budget")
        except ProviderError as exc:
            log.warning("job %s: AI ranking fell back to the offline picker: %s (%s)", request.job_id, exc.reason, exc)
            return await run.offline(exc.reason)
        except FFmpegError as exc:
            log.warning("job %s: a window's sound could not be extracted: %s", request.job_id, exc.reason)
            return await run.offline("audio_failed")
        return await run.ranked(chosen)

    async def _cached(self, run: _Run) -> None:
        for i, w in enumerate(run.request.windows):
            found = await self.transcripts.get(self._key(run.request, w))
            if found is not None:
                run.transcripts[i] = found
                run.cached += 1

    async def _affordable(self, run: _Run, prices: Prices) -> list[int]:
        """The most windows (offline preference first) whose transcripts and ranking fit the budget, at worst.

        Transcripts that cannot be ranked are money thrown away: when all cannot be afforded, fewer are heard;
        when fewer than one more than `keep` can be, nothing is.
        """
        request, spent = run.request, await run.budget.spent()
        for count in range(len(request.windows), request.keep, -1):
            chosen = list(range(count))
            hearing = sum(self._audio_worst(prices, request.windows[i]) for i in chosen if i not in run.transcripts)
            planned = prompt.planned_messages([request.windows[i] for i in chosen], request.keep)
            ranking = self._rank_worst(prices, planned)
            if round(spent + hearing + ranking, 6) <= run.budget.limit_usd:
                return chosen
        raise BudgetRefused("not even one more window than the reel keeps can be heard and ranked")

    async def _transcribe(self, run: _Run, index: int, prices: Prices) -> None:
        window, model = run.request.windows[index], self.models.transcribe
        seconds = window.end - window.start
        wav = await range_wav(self.ffmpeg, Path(run.request.source), window.start, seconds)
        worst = self._audio_worst(prices, window)
        entry = await run.budget.reserve("transcribe", model, worst, {"audio_seconds": audio_seconds_billed(seconds)})
        try:
            heard = await self.provider.transcribe(wav, model=model)
        except ProviderError as exc:
            await run.budget.settle(entry, worst if exc.billed else 0.0, {"outcome": exc.reason})
            raise
        billed = heard.billed_seconds if heard.billed_seconds is not None else audio_seconds_billed(seconds)
        await run.budget.settle(entry, prices.audio(billed), {"audio_seconds": billed})
        await self.transcripts.put(self._key(run.request, window), heard.transcript)
        run.transcripts[index] = heard.transcript
        run.transcribed += 1

    async def _choose(self, run: _Run, windows: Sequence[int], prices: Prices) -> list[tuple[int, str]]:
        request = run.request
        messages = prompt.messages(
            [request.windows[i] for i in windows], [run.transcripts.get(i) for i in windows], request.keep
        )
        worst, model = self._rank_worst(prices, messages), self.models.rank
        units = {"prompt_tokens": prompt_tokens_at_most(messages), "completion_tokens": self.models.max_tokens}
        entry = await run.budget.reserve("rank", model, worst, units)
        try:
            answer = await self.provider.chat_json(
                messages, model=model, max_tokens=self.models.max_tokens, schema=prompt.SCHEMA
            )
        except ProviderError as exc:
            await run.budget.settle(entry, worst if exc.billed else 0.0, {"outcome": exc.reason})
            raise
        used = {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens}
        await run.budget.settle(entry, prices.tokens(answer.prompt_tokens, answer.completion_tokens), used)
        try:
            picked = prompt.read_reply(answer.content, len(windows), request.keep)
        except prompt.InvalidReply as exc:
            raise ProviderError("invalid_response", str(exc)) from exc
        return [(windows[i], title) for i, title in picked]

    def _audio_worst(self, prices: Prices, window: Window) -> float:
        return prices.audio(audio_seconds_billed(window.end - window.start))

    def _rank_worst(self, prices: Prices, messages: list[dict[str, str]]) -> float:
        return prices.tokens(prompt_tokens_at_most(messages), self.models.max_tokens)

    def _key(self, request: RankRequest, window: Window) -> TranscriptKey:
        return TranscriptKey.of(request.source_sha256, window.start, window.end, self.models.transcribe)


class _Run:
    """One job's ranking: the transcripts at hand and what they cost."""

    def __init__(self, request: RankRequest, budget: JobBudget) -> None:
        self.request = request
        self.budget = budget
        self.transcripts: dict[int, Transcript] = {}
        self.transcribed = 0
        self.cached = 0

    async def offline(self, reason: str) -> Ranking:
        """The offline picker's choice stands; transcripts already at hand still caption the reel."""
        chosen = list(range(min(self.request.keep, len(self.request.windows))))
        return Ranking(chosen, {}, self.transcripts, await self._report(used=False, reason=reason))

    async def ranked(self, chosen: list[tuple[int, str]]) -> Ranking:
        """The model's choice, topped up from the offline order when it named fewer than `keep`."""
        order = [i for i, _ in chosen]
        for i in range(len(self.request.windows)):
            if len(order) >= self.request.keep:
                break
            if i not in order:
                order.append(i)
        titles = {i: title for i, title in chosen if title}
        return Ranking(order, titles, self.transcripts, await self._report(used=True, reason=None))

    async def _report(self, *, used: bool, reason: str | None) -> AIReport:
        return AIReport(
            used=used,
            reason=reason,
            spent_usd=await self.budget.spent(),
            candidates=len(self.request.windows),
            transcribed=self.transcribed,
            cached=self.cached,
        )
