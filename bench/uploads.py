"""Upload memory: the API process's RSS growth while a 500 MB generated file streams through POST /uploads.

`python -m bench.uploads [--mb 500] [--multipart]` starts `smartedit serve` (embedded PostgreSQL and Redis, in a
temp dir), uploads the file over real HTTP, checks the returned size and SHA-256, and samples the server's RSS
every 20 ms. Goal: growth under 50 MB, i.e. the body is streamed, never held in memory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from app.ops.embedded import free_port

GOAL_MB = 50.0
CHUNK = 1 << 20


def _make_file(path: Path, mb: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(CHUNK)
    with path.open("wb") as f:
        for i in range(mb):
            piece = i.to_bytes(8, "big") + block[8:]  # every MiB differs, so nothing along the way can dedupe it
            f.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while piece := f.read(CHUNK):
            yield piece


class _Peak(threading.Thread):
    def __init__(self, proc: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak, self.stop = proc, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("smartedit serve exited before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("smartedit serve did not become ready")


def main(mb: int, multipart: bool) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "upload.bin"
        sha256 = _make_file(source, mb)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "REDIS_", "STORAGE_"))}
        env.update(PORT=str(port), HOST="127.0.0.1", DATA_DIR=str(root / "data"), MAX_INPUT_BYTES=str(2 * mb << 20))
        env.update(MEDIA_ROOT=str(root / "media"), OUTPUT_ROOT=str(root / "out"), TEMP_DIR=str(root / "tmp"))
        log = (root / "serve.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"], env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, server)
            httpx.post(f"{url}/uploads", content=b"warm-up" * 1000, timeout=30).raise_for_status()
            proc = psutil.Process(server.pid)
            baseline = proc.memory_info().rss
            sampler = _Peak(proc)
            sampler.start()
            started = time.perf_counter()
            with httpx.Client(timeout=600) as client:
                if multipart:
                    with source.open("rb") as f:
                        response = client.post(f"{url}/uploads", files={"file": ("upload.bin", f)})
                else:
                    headers = {"content-length": str(source.stat().st_size)}
                    response = client.post(f"{url}/uploads", content=_chunks(source), headers=headers)
            seconds = time.perf_counter() - started
            sampler.stop.set()
            sampler.join()
        finally:
            server.terminate()
            server.wait(60)
        response.raise_for_status()
        body = response.json()
        exact = body["size"] == mb << 20 and body["sha256"] == sha256
        growth = (sampler.peak - baseline) / 1e6
        kind = "multipart" if multipart else "raw body"
        print(f"POST /uploads, {mb} MiB, {kind}: {seconds:.1f} s ({mb / seconds:.0f} MiB/s)")
        print(f"server RSS: {baseline / 1e6:.1f} MB before, {sampler.peak / 1e6:.1f} MB peak, growth {growth:.1f} MB")
        verdict = "met" if growth < GOAL_MB else "MISSED"
        print(f"size and sha256 as sent: {exact}; goal growth < {GOAL_MB:.0f} MB: {verdict}")
        return exact and growth < GOAL_MB


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500, help="MiB to upload (default 500)")
    parser.add_argument("--multipart", action="store_true", help="send it as the multipart field `file`")
    args = parser.parse_args()
    raise SystemExit(0 if main(args.mb, args.multipart) else 1)
