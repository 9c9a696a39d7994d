"""`python -m tests.support.publisher JOB_ID FILE`: publish FILE as the job's reel through the configured store.

A process of its own, configured from the environment like a worker, for tests that kill -9 it mid-upload.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from app.config import Settings
from app.storage import open_media


async def publish(job_id: str, path: Path) -> None:
    """What a worker does with a verified reel: hand it to the store."""
    async with open_media(Settings()) as media:
        await media.store.publish(job_id, "reel", path)


if __name__ == "__main__":
    asyncio.run(publish(sys.argv[1], Path(sys.argv[2])))
