"""input_path resolution: inside MEDIA_ROOT after symlinks, a regular file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.storage.sources import SourceError, resolve_source


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "media" / "sub").mkdir(parents=True)
    (tmp_path / "media" / "sub" / "a.mp4").write_bytes(b"x")
    (tmp_path / "outside.mp4").write_bytes(b"x")
    return tmp_path / "media"


def code(root: Path, path: str) -> str:
    with pytest.raises(SourceError) as info:
        resolve_source(root, path)
    return info.value.code


def test_relative_path_resolves(root: Path) -> None:
    assert resolve_source(root, "sub/a.mp4") == (root / "sub" / "a.mp4").resolve()


def test_absolute_path_inside_the_root_is_accepted(root: Path) -> None:
    assert resolve_source(root, str(root / "sub" / "a.mp4")).name == "a.mp4"


def test_escapes_are_refused(root: Path) -> None:
    (root / "link.mp4").symlink_to(root.parent / "outside.mp4")
    assert code(root, "../outside.mp4") == "input_outside_media_root"
    assert code(root, str(root.parent / "outside.mp4")) == "input_outside_media_root"
    assert code(root, "link.mp4") == "input_outside_media_root"


def test_missing_and_non_files(root: Path) -> None:
    assert code(root, "nope.mp4") == "input_not_found"
    assert code(root, "sub") == "input_not_a_file"
