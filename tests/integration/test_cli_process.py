"""`smartedit process`: the pipeline in one process, no server, for trying it out and for benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.ai_talk import QUIET, hearing, talk_source, within
from tests.support.cache import SourceCache
from tests.support.media import make_source
from tests.support.openai_server import CHAT, TRANSCRIBE, FakeOpenAI, keyword_ranker, serve


def smartedit(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "TEMP_DIR": str(cwd / "tmp"), **env},
        timeout=120,
    )


def test_process_renders_a_reel_and_prints_the_result(tmp_path: Path) -> None:
    source = make_source(tmp_path / "in.mp4", seconds=30)
    (tmp_path / "h.json").write_text(json.dumps([{"start_time": 5, "end_time": 21, "score": 0.7}]))
    done = smartedit(
        "process", str(source), "--highlights", "h.json", "-o", "reel.mp4", "--aspect-ratio", "1:1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["segments_processed"] == 1 and abs(result["duration"] - 16) < 0.05
    assert result["verification"]["width"] == result["verification"]["height"] == 90  # 1:1 of the 160x90 source
    assert (tmp_path / "reel.mp4").stat().st_size == result["output_size"]


def test_process_explains_bad_input_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 5000)
    done = smartedit("process", "junk.mp4", "-o", "reel.mp4", cwd=tmp_path)
    assert done.returncode == 2
    assert json.loads(done.stderr.strip().splitlines()[-1])["error"]["code"] == "source_unreadable"
    assert not (tmp_path / "reel.mp4").exists()


def test_process_auto_ranks_through_a_provider_with_the_in_memory_cache_and_ledger(
    tmp_path: Path, sources: SourceCache
) -> None:
    name = talk_source(sources, tmp_path)
    for fake in serve(FakeOpenAI(hearing=hearing, choosing=keyword_ranker("secret"))):
        args = ("--auto", "--max-duration", "15", "--preset", "ultrafast", "-o", "reel.mp4")
        done = smartedit("process", name, *args, cwd=tmp_path, AI_BASE_URL=fake.url)
        assert done.returncode == 0, done.stderr
        assert fake.answered[CHAT] == 1 and fake.answered[TRANSCRIBE] >= 3
    result = json.loads(done.stdout)
    assert result["ai"]["used"] is True and result["cost_usd"] == result["ai"]["spent_usd"] > 0
    assert any(within((s["start"], s["end"]), QUIET) for s in result["segments"])
    captions = Path(result["captions_path"])
    assert captions == tmp_path / "reel.vtt" and "secret" in captions.read_text()
