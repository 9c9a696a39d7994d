"""The Studio's edit on an S3 store: staging the base job's source with SOURCE_CACHE_BYTES off and on.

`python -m bench.source_cache [--mb 512]` (or `make bench-source-cache`) starts moto's S3 server in this process,
stores a source of that size as a job's published source, and stages it for two edits through the S3 store, the
way a job `based_on` that job does: once with no cache, once with one. It prints the wall and CPU seconds of each
edit's staging (the CPU includes moto's, which serves in this process) and their ratio to the first edit without a
cache. moto on loopback is faster than S3 over a network, so the download's share here is the smallest it gets.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path

from app.config import Settings
from app.storage import open_media
from tests.support.s3 import moto_server

BUCKET = "bench-sources"


async def _edits(endpoint: str, root: Path, cache_bytes: int, size: int) -> list[tuple[float, float]]:
    settings = Settings(
        storage_url=f"s3://{BUCKET}/svc",
        s3_endpoint_url=endpoint,
        temp_dir=root / f"cache-{cache_bytes}",
        source_cache_bytes=cache_bytes,
    )
    times = []
    async with open_media(settings) as media:
        for edit in range(2):
            wall, cpu = time.monotonic(), time.process_time()
            staged = await media.store.stage_output("base", "source", settings.temp_dir / "jobs" / f"edit-{edit}")
            times.append((time.monotonic() - wall, time.process_time() - cpu))
            assert staged is not None and staged.stat().st_size == size
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=512, help="the source's size in MiB")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server would log every request
    size = args.mb << 20
    with moto_server() as s3:
        s3.client.create_bucket(Bucket=BUCKET)
        s3.client.put_object(Bucket=BUCKET, Key="svc/reels/base.source", Body=os.urandom(size))
        with tempfile.TemporaryDirectory(prefix="smartedit-cache-bench-") as tmp:
            off = asyncio.run(_edits(s3.endpoint, Path(tmp), 0, size))
            on = asyncio.run(_edits(s3.endpoint, Path(tmp), 2 * size, size))
    reference = off[0][0]
    print(f"Staging a {args.mb} MiB source for two edits (jobs based_on one job), S3 store on moto")
    print("| SOURCE_CACHE_BYTES | edit | wall s | CPU s | wall / first edit without a cache |")
    print("|---|---|---|---|---|")
    for label, runs in (("0 (off)", off), (f"{2 * args.mb} MiB", on)):
        for edit, (wall, cpu) in enumerate(runs, 1):
            print(f"| {label} | {edit} | {wall:.2f} | {cpu:.2f} | {wall / reference:.3f} |")


if __name__ == "__main__":
    main()
