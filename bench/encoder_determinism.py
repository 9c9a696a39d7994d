"""Does one clip encoded again give the same stream? The reel's encoder, against libx264's own lookahead thread.

A resume re-renders the clip it was killed in and keeps the others: its reel is a clean run's only if the
encoder codes the same frames the same way every time. `python -m bench.encoder_determinism` encodes one
320x180 clip (15 s, 30 fps, a fade, the size where it shows most) `--runs` times with each configuration, one
encode at a time, beside a competing job that wants both cores (`bench.suite`'s looping 720p x264 `medium`
encode), and prints how many different streams each gave. Without the competitor every configuration codes one
stream: the difference comes from how the encoder's threads are scheduled.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.domain.spec import OutputOptions
from app.media.ffmpeg import find_binaries
from app.stages.render import X264_PARAMS, x264_args
from bench.suite import competitor

SIZE, RATE, SECONDS = "320x180", 30, 15


def configurations() -> dict[str, list[str]]:
    """The reel's encoder arguments, and the same with libx264's lookahead left in a thread of its own."""
    ours = x264_args(OutputOptions())
    threaded = list(ours)
    at = threaded.index("-x264-params")
    del threaded[at : at + 2]
    return {"lookahead thread (libx264's default)": threaded, f"ours ({X264_PARAMS})": ours}


def encode(raw: Path, encoder: list[str]) -> str:
    """The sha256 of the H.264 stream one encode of `raw` gives."""
    args = [find_binaries().ffmpeg, "-v", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt", "yuv420p",
            "-s", SIZE, "-r", str(RATE), "-i", str(raw), *encoder, "-f", "h264", "-"]  # fmt: skip
    return hashlib.sha256(subprocess.run(args, capture_output=True, check=True).stdout).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="encodes per configuration")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smartedit-determinism-") as tmp:
        raw = Path(tmp) / "clip.yuv"
        picture = f"testsrc2=size={SIZE}:rate={RATE}:duration={SECONDS},fade=t=in:st=0:d=0.5"
        subprocess.run([find_binaries().ffmpeg, "-v", "error", "-f", "lavfi", "-i", picture, "-f", "rawvideo",
                        "-pix_fmt", "yuv420p", str(raw)], check=True)  # fmt: skip
        other = competitor()
        try:
            rows = []
            for name, encoder in configurations().items():
                started = time.monotonic()
                streams = [encode(raw, encoder) for _ in range(args.runs)]
                rows.append((name, len(set(streams)), (time.monotonic() - started) / args.runs))
        finally:
            other.kill()
            other.wait()
    print(f"{SIZE} {RATE} fps {SECONDS} s clip, {args.runs} encodes each, beside a 720p x264 medium encode")
    print("| encoder | different streams | s per encode |")
    print("|---|---|---|")
    for name, distinct, seconds in rows:
        print(f"| {name} | {distinct} | {seconds:.2f} |")
    return 0 if rows[-1][1] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
