"""Play a reel in headless Chromium: `video.duration`, frames drawn to a canvas at joints, playback across them.

Chromium (Debian's `chromium` package) loads a page from a local HTTP server (with Range, as a browser
seeks), seeks to each joint, draws the frame to a 160x90 canvas, plays two seconds across the first joint
and posts what it saw back. Each canvas frame is compared with ffmpeg's decode of the frames around the
joint: the one it matches best should be the joint frame itself. Skips with a message when no Chromium.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from app.media.ffmpeg import Binaries
from bench.source import FPS, BenchSource

WIDTH, HEIGHT = 160, 90
TIMEOUT = 90.0


@dataclass
class Played:
    """What the browser reported, and how its canvas frames matched ffmpeg's decode."""

    browser: str = ""
    skipped: str | None = None
    error: str | None = None
    duration: float | None = None
    joints: list[dict[str, Any]] = field(default_factory=list)
    playback: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One paragraph for the console."""
        if self.skipped or self.error:
            return f"SKIPPED: {self.skipped}" if self.skipped else f"ERROR: {self.error}"
        joints = "; ".join(
            f"frame {j['frame']} ({j['what']}): canvas matches frame {j['best']} "
            f"(mean abs diff {j['mad'][1]:.2f}; neighbours {j['mad'][0]:.2f} / {j['mad'][2]:.2f})"
            for j in self.joints
        )
        return f"{self.browser}: video.duration {self.duration}; {joints}; playback across a joint {self.playback}"


def play(reel: Path, source: BenchSource, binaries: Binaries, joints: list[tuple[int, str]] | None = None) -> Played:
    """Open `reel` in headless Chromium; `joints`: (frame, label) to grab, by default the first clip joint."""
    exe = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
    if exe is None:
        return Played(skipped="no chromium on PATH (Debian: apt-get install chromium); the browser step did not run")
    frames = joints or [(round(source.clips[0].duration * FPS), "first frame of clip 2")]
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    page = _PAGE.replace("TIMES", json.dumps([(f + 0.5) / FPS for f, _ in frames])).encode()
    page = page.replace(b"JOINT", str(frames[0][0] / FPS).encode())
    seen = _serve_and_open(exe, reel, page)
    if "error" in seen or "frames" not in seen:
        return Played(browser=version, error=str(seen.get("error", seen)))
    played = Played(browser=version, duration=seen["duration"], playback=seen.get("playback", {}))
    for (frame, what), rgba in zip(frames, seen["frames"], strict=True):
        canvas = np.array(rgba, dtype=np.float64).reshape(HEIGHT, WIDTH, 4)[..., :3]
        mads = [float(np.mean(np.abs(canvas - _decoded(binaries, reel, frame + d)))) for d in (-1, 0, 1)]
        best = frame + int(np.argmin(mads)) - 1
        played.joints.append({"frame": frame, "what": what, "best": best, "mad": [round(m, 2) for m in mads]})
    return played


def _decoded(binaries: Binaries, reel: Path, frame: int) -> np.ndarray:
    scale = f"scale={WIDTH}:{HEIGHT}:flags=area:in_color_matrix=bt709:in_range=tv,format=rgb24"
    args = [binaries.ffmpeg, "-v", "error", "-ss", f"{(frame - 0.5) / FPS:.6f}", "-i", str(reel), "-frames:v", "1"]
    raw = subprocess.run([*args, "-vf", scale, "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(HEIGHT, WIDTH, 3).astype(np.float64)


def _serve_and_open(exe: str, reel: Path, page: bytes) -> dict[str, Any]:
    result: dict[str, Any] = {}
    done = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(reel, page, result, done))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with tempfile.TemporaryDirectory() as profile:
        argv = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio", f"--user-data-dir={profile}"]
        argv += ["--autoplay-policy=no-user-gesture-required", url]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not done.wait(TIMEOUT):
                result["error"] = f"no answer from the page within {TIMEOUT:.0f} s"
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()
            server.shutdown()
    return result


def _handler(reel: Path, page: bytes, result: dict[str, Any], done: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path != "/reel.mp4":
                self._send(200, page, "text/html")
                return
            size = reel.stat().st_size
            first, last = 0, size - 1
            if (ranged := self.headers.get("Range", "")).startswith("bytes="):
                lo, _, hi = ranged[6:].partition("-")
                first, last = int(lo or 0), min(int(hi) if hi else size - 1, size - 1)
            with reel.open("rb") as f:
                f.seek(first)
                body = f.read(last - first + 1)
            headers = {"Accept-Ranges": "bytes", "Content-Range": f"bytes {first}-{last}/{size}"}
            self._send(206 if ranged else 200, body, "video/mp4", headers)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            result.update(json.loads(body))
            self._send(204, b"", "text/plain")
            done.set()

        def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in {"Content-Type": kind, "Content-Length": str(len(body)), **(headers or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    return Handler


_PAGE = """<!doctype html><html><body><script>
const post = (o) => fetch('/result', {method: 'POST', body: JSON.stringify(o)});
const v = document.createElement('video');
v.muted = true; v.preload = 'auto'; v.src = '/reel.mp4';
document.body.appendChild(v);
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const painted = () => Promise.race([new Promise((r) => v.requestVideoFrameCallback(() => r())), wait(1000)]);
async function seek(t) {
  const done = new Promise((r) => v.addEventListener('seeked', r, {once: true}));
  v.currentTime = t; await done; await painted();
}
function grab() {
  const c = document.createElement('canvas'); c.width = 160; c.height = 90;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0, 160, 90);
  return Array.from(g.getImageData(0, 0, 160, 90).data);
}
v.addEventListener('error', () => post({error: 'media error ' + v.error.code + ' ' + v.error.message}));
v.addEventListener('loadedmetadata', async () => {
  try {
    const out = {duration: v.duration, width: v.videoWidth, height: v.videoHeight, frames: []};
    for (const t of TIMES) { await seek(t); out.frames.push(grab()); }
    await seek(Math.max(0, JOINT - 1));
    const before = v.getVideoPlaybackQuality();
    await v.play(); await wait(2000); v.pause();
    const after = v.getVideoPlaybackQuality();
    out.playback = {
      from_s: Math.max(0, JOINT - 1), to_s: v.currentTime,
      frames_shown: after.totalVideoFrames - before.totalVideoFrames,
      dropped: after.droppedVideoFrames - before.droppedVideoFrames,
      corrupted: after.corruptedVideoFrames, error: v.error ? v.error.code : null,
    };
    post(out);
  } catch (e) { post({error: String(e)}); }
});
</script></body></html>"""
