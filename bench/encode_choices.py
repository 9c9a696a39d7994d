"""Two encoder choices of the render stage: the reel's AAC coder and the dither of zscale's colour conversion.

`python -m bench.encode_choices [--runs 3]` (or `make bench-encode-choices`) measures, in one run and against the
choice each replaced:

- AAC: 40 s of 48 kHz stereo programme-like audio (pink noise swelling and fading, and a quiet tone; pcm_s24le
  WAV), encoded at the reel's bitrate with ffmpeg's default coder, `twoloop` (the reference), and with the reel's
  `AAC_CODER`. For each: the CPU seconds, the bitrate the encode reached, and the integrated loudness and true
  peak of the decoded result (`app.media.loudness.measure_ranges`, what verify measures) beside the WAV's own.
- zscale: a 6 s 1080p30 testsrc2 (ffv1, so decoding it is cheap) through the render's BT.601 to BT.709 conversion
  to `-f null -` with `dither=error_diffusion` (the reference, the render's choice before), `ordered` and `none`,
  and a plain decode, so the filter's own cost is the total minus the decode's. Quality: a 640x360 4 s
  `gradients` source and a testsrc2 one, each converted to 8 bits with each dither and compared (ffmpeg's `psnr`,
  average of the planes, at 16 bits) with the same conversion made to yuv420p16le, which needs no dither.

CPU seconds are those of the ffmpeg child (user + sys, `getrusage(RUSAGE_CHILDREN)` deltas), the least of `--runs`
runs. Runs go one at a time; everything lives in a temporary directory. About 40 CPU s in all on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import subprocess
import tempfile
from pathlib import Path

from app.media.ffmpeg import find_binaries
from app.media.loudness import Loudness, TimeRange, measure_ranges
from app.stages.colour import DITHER, Colorimetry, to_bt709
from app.stages.render import AAC_BITRATE, AAC_CODER, SAMPLE_RATE

AUDIO_SECONDS = 40
# Two pink noises (one per channel) whose level swells and fades over 10 s (-19.5 LUFS, 12 LU of range), and a
# quiet 440 Hz tone.
PROGRAMME = (
    f"anoisesrc=c=pink:r={SAMPLE_RATE}:a=0.6:d={AUDIO_SECONDS}:seed=1[l];"
    f"anoisesrc=c=pink:r={SAMPLE_RATE}:a=0.6:d={AUDIO_SECONDS}:seed=2[r];"
    "[l][r]join=inputs=2:channel_layout=stereo,volume='0.55+0.4*sin(2*PI*t/10)':eval=frame[noise];"
    f"sine=f=440:r={SAMPLE_RATE}:d={AUDIO_SECONDS},volume=0.1,aformat=channel_layouts=stereo[tone];"
    "[noise][tone]amix=inputs=2:normalize=0"
)
REFERENCE_CODER = ("-aac_coder", "twoloop")  # ffmpeg 6.0's default

VIDEO = "testsrc2=size=1920x1080:rate=30:duration=6"
QUALITY_SOURCES = {
    "gradients": "gradients=s=640x360:d=4:r=25:speed=0.01:seed=1",  # seeded: its colours are random otherwise
    "testsrc2": "testsrc2=size=640x360:rate=25:duration=4",
}
BT601 = Colorimetry(matrix="smpte170m", primaries="smpte170m", transfer="bt709", full_range=False)
REFERENCE_DITHER = "error_diffusion"  # the render's dither before DITHER
DITHERS = tuple(dict.fromkeys((REFERENCE_DITHER, DITHER, "ordered", "none")))  # the reference first, ours next
# (name, CPU s, kbit/s, loudness); the WAV has no CPU s or bitrate
AacRow = tuple[str, float | None, float | None, Loudness]
_PSNR = re.compile(r"PSNR .*average:(?P<v>\S+)")


def ffmpeg(args: list[str], *, level: str = "error") -> str:
    """Run ffmpeg with `args`; its stderr."""
    done = subprocess.run(
        [find_binaries().ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-y", "-v", level, *args],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stderr


def children_cpu() -> float:
    """User + system CPU seconds of the waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_cpu(args: list[str], runs: int) -> float:
    """The least CPU seconds of `runs` runs of ffmpeg with `args`."""
    times = []
    for _ in range(runs):
        before = children_cpu()
        ffmpeg(args)
        times.append(children_cpu() - before)
    return min(times)


def conversion(dither: str, pix_fmt: str = "yuv420p") -> str:
    """The render's BT.601 to BT.709 conversion (app.stages.colour.to_bt709) with `dither`, to `pix_fmt`."""
    return f"{to_bt709(BT601, dither)},format={pix_fmt}"


def loudness(path: Path) -> Loudness:
    """Integrated loudness and true peak of the whole of `path`, measured as verify measures."""
    return asyncio.run(measure_ranges(find_binaries().ffmpeg, path, [TimeRange(0.0, AUDIO_SECONDS)]))[0]


def aac(tmp: Path, runs: int) -> list[AacRow]:
    """(name, CPU s, kbit/s, loudness) of the WAV and of each coder's encode of it."""
    wav, same = tmp / "programme.wav", tmp / "programme.mka"
    ffmpeg(["-filter_complex", PROGRAMME, "-c:a", "pcm_s24le", str(wav)])
    # measure_ranges opens only the containers a source may come in (app.media.inputs), and WAV is not one of them:
    # the WAV's own samples are metered from a copy in Matroska.
    ffmpeg(["-i", str(wav), "-c", "copy", str(same)])
    rows: list[AacRow] = [("source WAV (pcm_s24le)", None, None, loudness(same))]
    for coder in (REFERENCE_CODER, AAC_CODER):
        out = tmp / f"{coder[1]}.m4a"
        args = ["-i", str(wav), "-c:a", "aac", *coder, "-b:a", AAC_BITRATE, "-ar", str(SAMPLE_RATE), str(out)]
        cpu = best_cpu(args, runs)
        kbits = out.stat().st_size * 8 / AUDIO_SECONDS / 1000
        rows.append((coder[1], cpu, kbits, loudness(out)))
    return rows


def lossless(tmp: Path, name: str, source: str) -> Path:
    """`source` (a lavfi graph) as a yuv420p ffv1 file."""
    path = tmp / f"{name}.mkv"
    ffmpeg(["-f", "lavfi", "-i", source, "-pix_fmt", "yuv420p", "-c:v", "ffv1", str(path)])
    return path


def psnr(source: Path, dither: str) -> float:
    """Average PSNR of the 8-bit conversion with `dither` against the same conversion made to 16 bits."""
    graph = (
        f"[0:v]split[a][b];[a]{conversion(dither)},format=yuv420p16le[x];"
        f"[b]{conversion('none', 'yuv420p16le')}[ref];[x][ref]psnr"
    )
    stderr = ffmpeg(["-i", str(source), "-filter_complex", graph, "-f", "null", "-"], level="info")
    found = _PSNR.findall(stderr)
    if not found:
        raise RuntimeError(f"psnr printed no average:\n{stderr[-2000:]}")
    return float(found[-1])


def zscale(tmp: Path, runs: int) -> tuple[float, dict[str, float], dict[str, dict[str, float]]]:
    """Decode CPU s; CPU s of decode + conversion per dither; PSNR per quality source per dither."""
    video = lossless(tmp, "video", VIDEO)
    decode = best_cpu(["-i", str(video), "-f", "null", "-"], runs)
    cpu = {d: best_cpu(["-i", str(video), "-vf", conversion(d), "-f", "null", "-"], runs) for d in DITHERS}
    quality = {}
    for name, source in QUALITY_SOURCES.items():
        path = lossless(tmp, name, source)
        quality[name] = {d: psnr(path, d) for d in DITHERS}
    return decode, cpu, quality


def label(choice: str, ours: str, before: str) -> str:
    """`choice`, marked as the render's or as the one it replaced."""
    return f"{choice} (ours)" if choice == ours else f"{choice} (before)" if choice == before else choice


def print_aac(rows: list[AacRow], runs: int) -> None:
    """The AAC table: CPU against twoloop, loudness and true peak against the WAV."""
    wav = rows[0][3]
    reference = rows[1][1]
    assert reference is not None and wav.true_peak is not None
    print(f"AAC {AAC_BITRATE} {SAMPLE_RATE} Hz stereo, {AUDIO_SECONDS} s of pink noise and tone, CPU s least of {runs}")
    print("| AAC coder | CPU s | / twoloop | kbit/s | LUFS | Δ LU | true peak dBTP | Δ dB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, cpu, kbits, level in rows:
        tp = level.true_peak
        assert tp is not None
        lu, db = level.integrated - wav.integrated, tp - wav.true_peak
        if cpu is None or kbits is None:
            print(f"| {name} | - | - | - | {level.integrated:.1f} | - | {tp:.1f} | - |")
            continue
        print(
            f"| {label(name, AAC_CODER[1], REFERENCE_CODER[1])} | {cpu:.2f} | {cpu / reference:.2f} | {kbits:.0f} "
            f"| {level.integrated:.1f} | {lu:+.1f} | {tp:.1f} | {db:+.1f} |"
        )


def print_zscale(decode: float, cpu: dict[str, float], quality: dict[str, dict[str, float]], runs: int) -> None:
    """The zscale table: CPU (total and the filter's own) against error diffusion, PSNR per source."""
    names = list(quality)
    reference = cpu[REFERENCE_DITHER]
    print()
    print(f"zscale BT.601 to BT.709, 6 s 1080p30 testsrc2 (ffv1) to null, CPU s least of {runs}")
    print("PSNR: 8-bit output against the 16-bit conversion, 640x360 4 s sources")
    print(f"| zscale dither | CPU s | / {REFERENCE_DITHER} | filter CPU s | / {REFERENCE_DITHER} | "
          + " | ".join(f"PSNR {n} dB" for n in names) + " |")  # fmt: skip
    print("|---|---|---|---|---|" + "---|" * len(names))
    print(f"| decode only | {decode:.2f} | - | - | - |" + " - |" * len(names))
    for dither in DITHERS:
        total, own = cpu[dither], cpu[dither] - decode
        db = " | ".join(f"{quality[n][dither]:.2f}" for n in names)
        print(
            f"| {label(dither, DITHER, REFERENCE_DITHER)} | {total:.2f} | {total / reference:.2f} | {own:.2f} "
            f"| {own / (reference - decode):.2f} | {db} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each timed ffmpeg command; the least CPU counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smartedit-encode-choices-") as tmp:
        audio = aac(Path(tmp), args.runs)
        decode, cpu, quality = zscale(Path(tmp), args.runs)
    print_aac(audio, args.runs)
    print_zscale(decode, cpu, quality, args.runs)


if __name__ == "__main__":
    main()
