"""Automatic clips with an AI ranker: the offline picker proposes, the ranker (when there is one) chooses."""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.ai.ports import Cue, Ranker, RankRequest, Transcript, Window
from app.analysis.edges import EDGE_IN_SPEECH, snap_to_words
from app.analysis.features import SourceFeatures
from app.analysis.picker import PICK_SNAP, Pick, Proposal
from app.domain.clip_limits import MIN_CLIP_SECONDS
from app.domain.result import AIReport
from app.stages.segments import Clip
from app.stages.validate import SourceInfo

CANDIDATES = 12  # windows proposed to a ranker: enough to choose from, few enough to hear cheaply


@dataclass(frozen=True)
class Chosen:
    """One clip: its range, why it was chosen ("client" for the client's), its title, what is said (source seconds)."""

    clip: Clip
    reasons: list[str]
    title: str | None
    cues: list[Cue]
    peak: float | None = None  # source seconds of its best moment


async def choose(
    proposal: Proposal,
    source: SourceInfo,
    *,
    ranker: Ranker | None,
    job_id: str,
    features: SourceFeatures | None = None,
) -> tuple[list[Chosen], AIReport]:
    """The reel's clips in source order: the ranker's choice when it made one, else the picker's first `keep`.

    With `features` and a transcript with word timings, a clip's edges move to sentence ends (or gaps
    between words) the words show within reach.
    """
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
    heard = {i: ranking.transcripts.get(i) for i in chosen}
    moved = {i: _on_words(picks[i], heard[i], features) for i in chosen}
    return [
        _chosen(moved[i], ranking.titles.get(i), heard[i], ai=ranking.report.used, heard_from=picks[i].start)
        for i in chosen
    ], ranking.report


def _on_words(pick: Pick, transcript: Transcript | None, features: SourceFeatures | None) -> Pick:
    """The pick with its edges on the transcript's sentence ends or word gaps, when both can reach one."""
    if transcript is None or features is None or not transcript.words:
        return pick
    words = [(pick.start + w.start, pick.start + w.end, w.ends_sentence) for w in transcript.words]
    longest = max(pick.end - pick.start, MIN_CLIP_SECONDS)  # the budget the picker gave this clip
    edges = snap_to_words(
        pick.start, pick.end, words, features, max_shift=PICK_SNAP, min_len=MIN_CLIP_SECONDS, max_len=longest
    )
    if edges is None:
        return pick
    reasons = tuple(r for r in pick.reasons if r != EDGE_IN_SPEECH)  # the words show where speech stops
    return replace(pick, start=edges.start, end=edges.end, reasons=reasons)


def _in_order(picks: list[Pick]) -> list[Pick]:
    return sorted(picks, key=lambda p: p.start)


def _chosen(
    pick: Pick, title: str | None, transcript: Transcript | None, *, ai: bool = False, heard_from: float | None = None
) -> Chosen:
    reasons = (["ai"] if ai else []) + list(pick.reasons)
    # Cues move from the window's own time (it began at `heard_from`) to the source's, so they stay true
    # whatever the reel does; those the moved edges left out go.
    origin = pick.start if heard_from is None else heard_from
    heard = transcript.cues if transcript else []
    cues = [
        Cue(start=origin + c.start, end=origin + c.end, text=c.text)
        for c in heard
        if origin + c.end > pick.start and origin + c.start < pick.end
    ]
    return Chosen(Clip(pick.start, pick.end, round(pick.score, 3), "fade"), reasons, title, cues, pick.peak)
