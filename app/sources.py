"""Where a client's input_path points: inside MEDIA_ROOT, after symlinks, a regular file, or an error."""

from __future__ import annotations

from pathlib import Path


class SourceError(Exception):
    """input_path does not name a usable file under MEDIA_ROOT."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def resolve_source(media_root: Path, input_path: str) -> Path:
    """The real path of `input_path` under `media_root`; raises SourceError otherwise."""
    root = media_root.resolve()
    if "\x00" in input_path:
        raise SourceError("invalid_input_path", "input_path contains a NUL byte.")
    candidate = Path(input_path)
    # An absolute path is accepted only when it already lies under MEDIA_ROOT.
    try:
        target = (candidate if candidate.is_absolute() else root / candidate).resolve()
        exists, is_file = target.exists(), target.is_file()
    except OSError as exc:  # a name longer than the filesystem allows, a loop of symlinks
        raise SourceError("invalid_input_path", f"input_path cannot name a file here: {exc.strerror}.") from exc
    if not target.is_relative_to(root):
        raise SourceError(
            "input_outside_media_root",
            f"input_path {input_path!r} points outside the media directory; give a path relative to MEDIA_ROOT.",
        )
    if not exists:
        raise SourceError("input_not_found", f"No file {input_path!r} under the media directory.")
    if not is_file:
        raise SourceError("input_not_a_file", f"{input_path!r} is not a regular file.")
    return target
