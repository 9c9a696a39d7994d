"""Automatic clips with an AI ranker: the offline picker proposes, the ranker (when there is one) chooses."""

from __future__ import annotations

from dataclasses import dataclass

from app.ai.ports import AIReport, Cue, Ranker, RankRequest, Transcript, Window
from app.analysis.picker import Pick, Proposal
from app.stages.segments import Clip
from app.stages.validate import SourceInfo

CANDIDATES = 12  # windows proposed to a ranker: enough to choose from, few enough to hear cheaply


@dataclass(frozen=True)
class Chosen:
    """One automatic clip: the range, why it was chosen, its title and what is said in it (source seconds)."""

    clip: Clip
    reasons: list[str]
    title: str | None
    cues: list[Cue]
    peak: float | None = None  # source seconds of its best moment


async def choose(
    proposal: Proposal, source: SourceInfo, *, ranker: Ranker | None, job_id: str
) -> tuple[list[Chosen], AIReport]:
    """The reel's clips in source order: the ranker's choice when it made one, else the picker's first `keep`."""
    picks = proposal.candidates
    if ranker is None:
        return [_chosen(p, None, None) for p in _in_order(picks[: proposal.keep])], AIReport(
            used=False, reason="disabled", candidates=len(picks)
        )
    request = RankRequest(
        job_id=job_id,
        source=source.path,
        source_sha256=source.sha256,
        has_audio=source.has_audio,
        windows=[Window(p.start, p.end, p.score) for p in picks],
        keep=proposal.keep,
    )
    ranking = await ranker.rank(request)
    chosen = sorted(ranking.chosen, key=lambda i: picks[i].start)
    return [
        _chosen(picks[i], ranking.titles.get(i), ranking.transcripts.get(i), ai=ranking.report.used) for i in chosen
    ], ranking.report


def _in_order(picks: list[Pick]) -> list[Pick]:
    return sorted(picks, key=lambda p: p.start)


def _chosen(pick: Pick, title: str | None, transcript: Transcript | None, *, ai: bool = False) -> Chosen:
    reasons = (["ai"] if ai else []) + list(pick.reasons)
    # Cues move from the window's own time to the source's, so they stay true whatever the reel does.
    heard = transcript.cues if transcript else []
    cues = [Cue(start=pick.start + c.start, end=pick.start + c.end, text=c.text) for c in heard]
    return Chosen(Clip(pick.start, pick.end, round(pick.score, 3), "fade"), reasons, title, cues, pick.peak)
