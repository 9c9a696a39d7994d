"""The files a completed job publishes for a person to look at its reel: the analysis, a filmstrip, the features.

Verify's last step, beside the poster frame and the captions, and checkpointed with them: the analysis is
built from what analyze already found (the plan carries its features), so nothing is decoded again but
the source's keyframes for the filmstrip. The features themselves are kept too, compressed, so a job
`based_on` this one frames and snaps its clips without decoding the source again.
"""

from __future__ import annotations

import gzip
import logging
import math
from pathlib import Path

import numpy as np

from app.analysis.features import SourceFeatures
from app.analysis.picker import relative_features, second_scores
from app.analysis.timeline import ENVELOPE_STEP, envelope, face_boxes, rounded, speech_spans
from app.domain.analysis import (
    AnalysedSource,
    ClipView,
    Envelope,
    FaceTrackView,
    Filmstrip,
    JobAnalysis,
    SourceFeaturesView,
)
from app.domain.crop import CropKey
from app.media.ffmpeg import Binaries, FFmpegError
from app.media.files import part_name, publish
from app.media.filmstrip import INTRA_ONLY, Sprite, layout_for, write_filmstrip
from app.stages.analyze import Plan, Segment
from app.stages.render import RenderedFile
from app.stages.validate import SourceInfo

log = logging.getLogger(__name__)

_PLAYABLE_FORMATS = ("mov", "mp4")
_PLAYABLE_PIXELS = ("yuv420p", "yuvj420p")


def playable(info: SourceInfo) -> bool:
    """Whether every browser plays the source as it is: 8-bit 4:2:0 H.264 with AAC or no audio, in MP4/MOV."""
    media = info.media
    container = any(name in media.format_name.split(",") for name in _PLAYABLE_FORMATS)
    audio = media.audio is None or media.audio.codec == "aac"
    return container and audio and info.codec == "h264" and info.pix_fmt in _PLAYABLE_PIXELS


def load_features(text: str | None) -> SourceFeatures | None:
    """The plan's features back as arrays; None when nothing was decoded."""
    return None if text is None else SourceFeatures.from_json(text)


def read_features_file(path: Path) -> SourceFeatures:
    """Features published by an earlier job (`features.json.gz`)."""
    return SourceFeatures.from_json(gzip.decompress(path.read_bytes()).decode())


async def write_files(
    job_id: str, info: SourceInfo, plan: Plan, *, binaries: Binaries, work_dir: Path
) -> tuple[RenderedFile, RenderedFile | None, RenderedFile | None]:
    """The analysis JSON, the filmstrip (None when ffmpeg could not make one) and the compressed features."""
    features = load_features(plan.features)
    sprite = await _filmstrip(info, binaries=binaries, out=work_dir / "filmstrip.jpg")
    analysis = build_analysis(job_id, info, plan, features, sprite)
    analysis_file = await _write(work_dir / "analysis.json", analysis.model_dump_json().encode())
    kept = None
    if plan.features is not None:
        kept = await _write(work_dir / "features.json.gz", gzip.compress(plan.features.encode(), 6))
    filmstrip = None if sprite is None else RenderedFile(path=str(sprite.path), size=sprite.size, sha256=sprite.sha256)
    return analysis_file, filmstrip, kept


async def _filmstrip(info: SourceInfo, *, binaries: Binaries, out: Path) -> Sprite | None:
    video = info.media.video
    sar = float(video.sar) if video is not None else 1.0
    layout = layout_for(info.duration, info.width * sar / info.height)
    try:
        intra_only = info.codec in INTRA_ONLY
        return await write_filmstrip(binaries.ffmpeg, Path(info.path), out, layout, intra_only=intra_only)
    except FFmpegError as exc:  # a page without pictures beats a reel lost for the want of them
        log.warning("no filmstrip: %s", exc.reason)
        return None


async def _write(out: Path, data: bytes) -> RenderedFile:
    part = part_name(out)
    part.write_bytes(data)
    size, digest = await publish(part, out)
    return RenderedFile(path=str(out), size=size, sha256=digest)


def build_analysis(
    job_id: str, info: SourceInfo, plan: Plan, features: SourceFeatures | None, sprite: Sprite | None
) -> JobAnalysis:
    """The contract's JobAnalysis from what validate, analyze and the filmstrip found."""
    video = info.media.video
    source = AnalysedSource(
        duration=info.duration,
        frame_rate=info.frame_rate,
        width=info.width,
        height=info.height,
        sample_aspect_ratio=(video.sample_aspect_ratio if video and video.sample_aspect_ratio else "1:1"),
        has_audio=info.has_audio,
        playable=playable(info),
    )
    film = None
    if sprite is not None:
        lay = sprite.layout
        film = Filmstrip(interval=lay.interval, tile=lay.tile, columns=lay.columns, count=lay.count, times=sprite.times)
    clips = [_clip(s, info, plan) for s in plan.segments]
    if features is None:
        empty = SourceFeaturesView(loudness=[], speech=[], motion=[], faces=[], cut_density=[])
        return JobAnalysis(
            job_id=job_id, source=source, analysed=False, step=1.0, score=[], features=empty,
            envelope=Envelope(step=ENVELOPE_STEP, db=[]), speech=[], pauses=[], shots=[], faces=[],
            clips=clips, filmstrip=film,
        )  # fmt: skip
    # The picker's score means something where it judged the whole source (its medians are the source's own):
    # an automatic job's, or a job reusing one's analysis. The audio may run a fraction of a second past the video.
    seen = features.cut_density[: math.floor(info.duration)]
    whole = len(seen) > 0 and not bool(np.isnan(seen).any())
    score = second_scores(relative_features(features), len(features.loudness)) if whole else None
    return JobAnalysis(
        job_id=job_id,
        source=source,
        analysed=True,
        step=1.0,
        score=[] if score is None else [round(float(v), 3) for v in score],
        features=SourceFeaturesView(
            loudness=rounded(features.loudness, 1),
            speech=rounded(features.speech, 2),
            motion=rounded(features.motion, 2),
            faces=rounded(features.faces, 2),
            cut_density=rounded(features.cut_density, 0),
        ),
        envelope=Envelope(step=ENVELOPE_STEP, db=envelope(features.fine_level)),
        speech=speech_spans(features),
        pauses=[(round(p.start, 2), round(p.end, 2)) for p in features.pauses],
        shots=[round(t, 3) for t in features.cuts],
        faces=[FaceTrackView(track=track, boxes=boxes) for track, boxes in face_boxes(features)],
        clips=clips,
        filmstrip=film,
    )


def _clip(segment: Segment, info: SourceInfo, plan: Plan) -> ClipView:
    return ClipView(
        index=segment.index,
        start=round(segment.start, 6),
        end=round(segment.start + segment.duration, 6),
        score=segment.score,
        reasons=segment.reasons,
        title=segment.title,
        layout=segment.layout,
        crop=_boxes(segment.crop, info, plan, half=segment.layout == "split"),
        crop_bottom=_boxes(segment.crop_bottom, info, plan, half=True),
        crop_tracks=[k.track for k in segment.crop] if plan.framing is not None else [],
    )


def _boxes(
    keys: list[CropKey], info: SourceInfo, plan: Plan, *, half: bool
) -> list[tuple[float, float, float, float, float]]:
    framing = plan.framing
    if not keys or framing is None:
        return []
    w, h = (framing.half_width, framing.half_height) if half else (framing.width, framing.height)
    assert w is not None and h is not None
    sw, sh = info.width, info.height
    return [(round(k.t, 3), round(k.x / sw, 4), round(k.y / sh, 4), round(w / sw, 4), round(h / sh, 4)) for k in keys]
