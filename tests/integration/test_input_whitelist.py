"""A playlist or concat list under MEDIA_ROOT cannot make ffmpeg read files outside it."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.config import Settings
from app.media.inputs import source_input
from tests.support.jobs import submit, wait_final
from tests.support.media import make_source


def _outside(tmp_path: Path) -> Path:
    secret = tmp_path / "elsewhere" / "other-job-reel.mp4"
    secret.parent.mkdir()
    make_source(secret, seconds=20)
    return secret


async def _fails_as_unsupported(client: httpx.AsyncClient, name: str) -> None:
    job = await submit(client, name)
    done = await wait_final(client, job["id"], timeout=60)
    assert done["status"] == "failed", done
    assert done["result"] is None
    assert done["error"]["code"] == "unsupported_container", done["error"]
    assert "playlists" in done["error"]["message"]


async def test_an_hls_playlist_naming_a_file_outside_media_root_fails_as_input(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    secret = _outside(tmp_path)
    (settings.media_root / "reel.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20,\n{secret}\n#EXT-X-ENDLIST\n"
    )
    await _fails_as_unsupported(client, "reel.m3u8")


async def test_an_ffconcat_list_reaching_outside_media_root_fails_as_input(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    secret = _outside(tmp_path)
    # The concat demuxer's own safe mode refuses absolute names, not a symlink under MEDIA_ROOT.
    (settings.media_root / "inner.mp4").symlink_to(secret)
    (settings.media_root / "list.txt").write_text("ffconcat version 1.0\nfile 'inner.mp4'\n")
    await _fails_as_unsupported(client, "list.txt")


def test_source_input_allows_only_local_files_and_real_containers() -> None:
    args = source_input("/m/a.mp4", start=1.5, duration=2)
    assert args[args.index("-protocol_whitelist") + 1] == "file"
    formats = args[args.index("-format_whitelist") + 1].split(",")
    assert {"mov", "matroska", "mpegts"} <= set(formats)
    assert not {"hls", "concat", "dash", "image2", "lavfi"} & set(formats)
    assert args[-2:] == ["-i", "/m/a.mp4"] and args.index("-ss") < args.index("-i")
