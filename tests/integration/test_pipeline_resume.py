"""Resume inside the pipeline: a checkpoint is trusted only while the file it names is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db.checkpoint import MemoryCheckpoints
from app.domain.spec import Highlight, JobSpec, OutputOptions
from app.media.ffmpeg import find_binaries
from app.pipeline.editor import Hooks, SmartVideoEditor
from tests.support.media import make_source

SPEC = JobSpec(
    input_path="s.mp4",
    highlights=[Highlight(start_time=1, end_time=16), Highlight(start_time=18, end_time=33)],
    output=OutputOptions(preset="ultrafast"),  # what is checked is what a resume skips, not the encode
)


class Crash(Exception):
    """Stands for the worker dying right after the first clip was checkpointed."""


class Recorder:
    def __init__(self, crash_after: str | None = None) -> None:
        self.events: list[tuple[str, str]] = []
        self.crash_after = crash_after

    async def on_stage(self, stage: str, event: str, seconds: float | None) -> None:
        self.events.append((stage, event))
        if (stage, event) == (self.crash_after, "end"):
            raise Crash


@pytest.fixture
def editor(tmp_path: Path) -> SmartVideoEditor:
    return SmartVideoEditor(binaries=find_binaries(), temp_dir=tmp_path / "tmp", max_source_seconds=3600)


async def crash_after_first_clip(editor: SmartVideoEditor, source: Path, out: Path) -> MemoryCheckpoints:
    checkpoints = MemoryCheckpoints()
    first = Recorder(crash_after="segment:0")
    with pytest.raises(Crash):
        await editor.process_job(
            "job", source, SPEC, out, checkpoints=checkpoints, attempt="one", hooks=Hooks(on_stage=first.on_stage)
        )
    return checkpoints


async def test_resume_skips_what_was_done(editor: SmartVideoEditor, tmp_path: Path) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=35)
    checkpoints = await crash_after_first_clip(editor, source, tmp_path / "reel.mp4")
    second = Recorder()
    result = await editor.process_job(
        "job",
        source,
        SPEC,
        tmp_path / "reel.mp4",
        checkpoints=checkpoints,
        attempt="two",
        hooks=Hooks(on_stage=second.on_stage),
    )
    assert ("validate", "skip") in second.events and ("analyze", "skip") in second.events
    assert ("segment:0", "skip") in second.events and ("segment:1", "start") in second.events
    assert result.segments_processed == 2 and all(result.verification.checks.values())


async def test_a_changed_clip_file_is_rendered_again(editor: SmartVideoEditor, tmp_path: Path) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=35)
    checkpoints = await crash_after_first_clip(editor, source, tmp_path / "reel.mp4")
    clip = editor.work_dir("job") / "one" / "segment_00.mov"
    with clip.open("r+b") as f:  # same size, one byte different: only the hash can tell
        f.seek(clip.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    second = Recorder()
    await editor.process_job(
        "job",
        source,
        SPEC,
        tmp_path / "reel.mp4",
        checkpoints=checkpoints,
        attempt="two",
        hooks=Hooks(on_stage=second.on_stage),
    )
    assert ("segment:0", "start") in second.events and ("segment:0", "skip") not in second.events


async def test_a_changed_source_is_validated_and_analysed_again(editor: SmartVideoEditor, tmp_path: Path) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=35)
    checkpoints = await crash_after_first_clip(editor, source, tmp_path / "reel.mp4")
    make_source(source, seconds=35, levels_lufs=(-30.0,))  # replaced under the same name
    second = Recorder()
    await editor.process_job(
        "job",
        source,
        SPEC,
        tmp_path / "reel.mp4",
        checkpoints=checkpoints,
        attempt="two",
        hooks=Hooks(on_stage=second.on_stage),
    )
    # The file is still where it was (nothing to fetch again); its bytes changed, so validation runs again.
    assert second.events[:3] == [("fetch", "skip"), ("validate", "start"), ("validate", "end")]
    assert ("segment:0", "skip") not in second.events
