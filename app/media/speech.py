"""One range of a source's sound as a small WAV for speech-to-text: seeked to, audio only, 16 kHz mono."""

from __future__ import annotations

import io
import wave
from pathlib import Path

from app.media.ffmpeg import run
from app.media.inputs import source_input

SPEECH_RATE = 16_000  # what speech models listen at; more only makes the upload bigger


async def range_wav(ffmpeg: str, source: Path, start: float, duration: float) -> bytes:
    """The sound of [start, start + duration) as 16-bit mono WAV bytes (about 1.9 MB a minute).

    WAV because every OpenAI-compatible speech server takes it (whisper.cpp's takes nothing else); the
    decoder seeks, so a window an hour into a 4-hour source costs the same as one at its start.
    """
    args = ["-v", "error", *source_input(source, start=start, duration=duration), "-map", "0:a:0", "-vn"]
    args += ["-ac", "1", "-ar", str(SPEECH_RATE), "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1"]
    pcm = (await run(ffmpeg, args, capture_stdout=True)).stdout
    # The header is written here: ffmpeg's WAV muxer cannot fill in the sizes on a pipe.
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SPEECH_RATE)
        w.writeframes(pcm)
    return out.getvalue()
