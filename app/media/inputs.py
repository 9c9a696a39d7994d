"""How every source file is opened by ffmpeg and ffprobe: local files only, real containers only.

A playlist (HLS, DASH) or a concat list is a text file that names other files: placed under
MEDIA_ROOT, it would make ffmpeg read files outside it, another job's reel included. So a source is
opened with the `file` protocol alone and with the demuxers of the containers we accept; our own
concat of our own intermediates (stages/render.concat) does not go through here.
"""

from __future__ import annotations

from pathlib import Path

# ffmpeg demuxer names (one name of each demuxer is enough: "mov" covers mov,mp4,m4a,3gp,3g2,mj2).
SOURCE_DEMUXERS: tuple[str, ...] = (
    "mov",  # mov, mp4, m4a, 3gp, 3g2, mj2
    "matroska",  # matroska, webm
    "mpegts",
    "avi",
    "flv",
    "asf",  # wmv
    "mpeg",  # MPEG program stream (.mpg, .vob)
    "ogg",
    "mxf",
)
# Stderr of ffmpeg/ffprobe when the detected format (hls, concat, …) is not one of the above.
NOT_ON_WHITELIST = "not on whitelist"


def source_options() -> list[str]:
    """Input options that restrict the next `-i` to a local file in an accepted container."""
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(SOURCE_DEMUXERS)]


def source_input(path: Path | str, *, start: float | None = None, duration: float | None = None) -> list[str]:
    """`[options] [-ss start] [-t duration] -i path` for a source (an accurate seek before the input)."""
    args = source_options()
    if start is not None:
        args += ["-ss", f"{start:.6f}"]
    if duration is not None:
        args += ["-t", f"{duration:.6f}"]
    return [*args, "-i", str(path)]
