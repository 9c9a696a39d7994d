"""Transitions at a clip's edges, shared by the loudness measure and the render so both hear the same clip."""

from __future__ import annotations

from app.domain.spec import Transition

FADE_SECONDS = 0.5
MIN_METERED_SECONDS = 0.4  # BS.1770's gating block: a shorter part has no integrated loudness


def metered_part(transition: Transition, duration: float) -> tuple[float, float]:
    """The part of a clip its loudness is taken from, as (offset into the clip, length): its fades left out.

    The one window of both meters: analyze sets a clip's gain from it and verify checks the delivered clip on it,
    so room tone under a fade can never be speech to one and silence to the other.
    """
    edge = edge_seconds(transition)
    return edge, max(MIN_METERED_SECONDS, duration - 2 * edge)


def edge_seconds(transition: Transition) -> float:
    """How long the transition lasts at each edge of a clip."""
    return FADE_SECONDS if transition == "fade" else 0.0


def video_fades(transition: Transition, duration: float, *, offset: float = 0.0) -> list[str]:
    """Fade from and to black at the clip's edges, for a piece of the clip starting `offset` s into it.

    A smart render encodes a clip's head and tail apart; its tail starts after the fade-in has ended
    (`offset` is 0 or at least FADE_SECONDS), so it gets only the fade-out, shifted into its own time.
    """
    if transition != "fade":
        return []
    fade_out = f"fade=t=out:st={duration - FADE_SECONDS - offset:.6f}:d={FADE_SECONDS}"
    return [f"fade=t=in:st=0:d={FADE_SECONDS}", fade_out] if offset < FADE_SECONDS else [fade_out]


def audio_fades(transition: Transition, duration: float) -> list[str]:
    """Fade the sound in and out with the picture."""
    if transition != "fade":
        return []
    return [f"afade=t=in:d={FADE_SECONDS}", f"afade=t=out:st={duration - FADE_SECONDS:.6f}:d={FADE_SECONDS}"]
