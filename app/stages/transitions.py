"""Transitions at a clip's edges, shared by the loudness measure and the render so both hear the same clip."""

from __future__ import annotations

from app.spec import Transition

FADE_SECONDS = 0.5


def edge_seconds(transition: Transition) -> float:
    """How long the transition lasts at each edge of a clip."""
    return FADE_SECONDS if transition == "fade" else 0.0


def video_fades(transition: Transition, duration: float) -> list[str]:
    """Fade from and to black at the clip's edges."""
    if transition != "fade":
        return []
    return [f"fade=t=in:st=0:d={FADE_SECONDS}", f"fade=t=out:st={duration - FADE_SECONDS:.6f}:d={FADE_SECONDS}"]


def audio_fades(transition: Transition, duration: float) -> list[str]:
    """Fade the sound in and out with the picture."""
    if transition != "fade":
        return []
    return [f"afade=t=in:d={FADE_SECONDS}", f"afade=t=out:st={duration - FADE_SECONDS:.6f}:d={FADE_SECONDS}"]
