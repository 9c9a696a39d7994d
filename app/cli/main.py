"""smartedit serve | api | worker | process: the service's entry points."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from app.cli import remote
from app.config import Settings
from app.ops import logs

log = logging.getLogger("smartedit")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="smartedit", description="Long videos in, highlight reels out.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="API and worker in one process (embedded PostgreSQL/Redis when none is set)")
    commands.add_parser("api", help="the HTTP API alone")
    commands.add_parser("worker", help="the job runner alone; /metrics on PROMETHEUS_PORT")
    commands.add_parser(
        "migrate", help="apply pending database migrations and exit (several at once are safe: an advisory lock)"
    )
    process = commands.add_parser("process", help="render one reel in-process, without a server")
    process.add_argument("input", type=Path, help="source video")
    process.add_argument("-o", "--output", type=Path, required=True, help="where to write the reel (.mp4)")
    chosen = process.add_mutually_exclusive_group()
    chosen.add_argument("--highlights", type=Path, help="JSON file: a list of {start_time, end_time, score?}")
    chosen.add_argument(
        "--auto", action="store_true", help="pick the clips from the media (the default), ranked by AI_* if set"
    )
    process.add_argument("--aspect-ratio", default="source", help="source, 16:9, 9:16, 1:1 or 4:5")
    process.add_argument("--max-duration", type=float, default=300.0, help="seconds of reel at most (automatic clips)")
    process.add_argument("--framing", default="speaker", help="what a reframed crop follows: speaker|largest|centre")
    process.add_argument("--layout", default="single", help="single, or split (9:16): two speakers stacked")
    process.add_argument("--crf", type=int, default=None, help="libx264 CRF (default 18); setting it forces an encode")
    process.add_argument("--preset", default=None, help="libx264 preset, ultrafast to slow (default fast)")
    remote.add_commands(commands)
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command in remote.COMMANDS:
        return asyncio.run(remote.run(args, settings))
    logs.configure("text" if args.command == "process" else settings.log_format)
    if args.command in ("serve", "api") and (refusal := settings.open_api_refusal()):
        raise SystemExit(refusal)
    if args.command == "process":
        return asyncio.run(_process(settings, args))
    if args.command == "worker":
        with _services(settings, embedded=False) as ready:
            return asyncio.run(_worker(ready))
    if args.command == "migrate":
        if settings.postgres_host is None:
            raise SystemExit("POSTGRES_HOST must be set: `smartedit migrate` migrates an existing database")
        return asyncio.run(_migrate(settings))
    with _services(settings, embedded=args.command == "serve") as ready:
        from app.api.app import create_app

        app = create_app(ready, run_worker=args.command == "serve")
        config = uvicorn.Config(
            app,
            host=ready.host,
            port=ready.port,
            timeout_graceful_shutdown=int(ready.shutdown_grace_seconds),
            log_config=None,  # uvicorn's lines go through ours: JSON, with the request id
        )
        _QuietServer(config).run()
    return 0


class _QuietServer(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGTERM after shutdown: the embedded servers must still stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextlib.contextmanager
def _services(settings: Settings, *, embedded: bool) -> Iterator[Settings]:
    """Settings with PostgreSQL and Redis filled in: embedded servers for what is not configured."""
    missing_pg, missing_redis = settings.postgres_host is None, settings.redis_host is None
    if not (missing_pg or missing_redis):
        yield settings
        return
    if not embedded:
        raise SystemExit("POSTGRES_HOST and REDIS_HOST must be set (only `smartedit serve` starts embedded servers)")
    from app.ops.embedded import embedded_services, ensure_database

    with embedded_services(settings.data_dir, postgres=missing_pg, redis=missing_redis) as servers:
        update: dict[str, object] = {}
        if missing_pg:
            update |= {
                "postgres_host": servers.postgres_host,
                "postgres_port": servers.postgres_port,
                "postgres_user": servers.postgres_user,
                "postgres_password": servers.postgres_password,
            }
        if missing_redis:
            update |= {
                "redis_host": servers.redis_host,
                "redis_port": servers.redis_port,
                "redis_password": servers.redis_password,
            }
        if not settings.webhook_secret:
            update["webhook_secret"] = _local_webhook_secret(settings.data_dir)
        ready = settings.model_copy(update=update)
        asyncio.run(
            ensure_database(
                str(ready.postgres_host),
                ready.postgres_port,
                ready.postgres_user,
                ready.postgres_db,
                password=ready.postgres_password or None,
            )
        )
        log.info(
            "embedded PostgreSQL on %s:%s, Redis on %s:%s, data in %s",
            ready.postgres_host,
            ready.postgres_port,
            ready.redis_host,
            ready.redis_port,
            settings.data_dir,
        )
        yield ready


def _local_webhook_secret(data_dir: Path) -> str:
    # A single-machine install signs webhooks with a secret kept beside its data, made once.
    path = data_dir / "webhook_secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode() + "\n"
        # Created 0600 in one step: no moment when another user could read it (write, then chmod, had one).
        with contextlib.suppress(FileExistsError), os.fdopen(
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w"
        ) as file:
            file.write(secret)
    return path.read_text().strip()


async def _worker(settings: Settings) -> int:
    from app.ops.metrics import serve_metrics
    from app.service.wiring import open_services

    if settings.prometheus_port:
        serve_metrics(settings.prometheus_port, host=settings.host, token=settings.metrics_token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_services(settings, run_worker=True):
        log.info("worker running; SIGTERM stops it")
        await stop.wait()
    return 0


async def _migrate(settings: Settings) -> int:
    from app.db import create_pool, migrate

    pool = await create_pool(settings.postgres_dsn, max_size=2)
    try:
        applied = await migrate(pool)
    finally:
        await pool.close()
    log.info("migrations applied: %s", ", ".join(applied) if applied else "none pending")
    return 0


async def _process(settings: Settings, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.ai.memory import MemoryLedger, MemoryTranscripts
    from app.db.checkpoint import MemoryCheckpoints
    from app.domain.errors import InputError, QualityTargetMissed
    from app.domain.spec import Highlight, JobSpec, OutputOptions
    from app.pipeline.editor import Hooks
    from app.service.wiring import make_editor, make_ranker

    try:
        highlights = None
        if args.highlights:
            highlights = [Highlight.model_validate(h) for h in json.loads(args.highlights.read_text())]
        spec = JobSpec(
            input_path=str(args.input),
            highlights=highlights,
            output=OutputOptions(
                aspect_ratio=args.aspect_ratio, max_duration=args.max_duration, crf=args.crf, preset=args.preset,
                framing=args.framing, layout=args.layout,
            ),
        )
    except ValidationError as exc:  # one line a person can act on, not pydantic's report
        first = exc.errors()[0]
        option = "--" + str(first["loc"][-1] if first["loc"] else "input").replace("_", "-")
        print(f"smartedit: {option}: {first['msg']}", file=sys.stderr)
        return 2
    # One job, no database: the cache and the ledger live as long as this run, the budget still holds.
    ranker = make_ranker(settings, MemoryTranscripts(), MemoryLedger())
    editor = make_editor(settings, ranker=ranker)
    try:
        with remote.progress_bar() as bar:
            task = bar.add_task("fetch", total=1.0)

            async def on_progress(stage: str, value: float) -> None:
                bar.update(task, completed=value, description=stage)

            result = await editor.process_job(
                uuid.uuid4().hex,
                args.input.resolve(),
                spec,
                args.output.resolve(),
                checkpoints=MemoryCheckpoints(),
                hooks=Hooks(on_progress=on_progress),
            )
            bar.update(task, completed=1.0, description="done")
    except InputError as exc:
        print(json.dumps({"error": {"code": exc.code, "message": exc.message}}), file=sys.stderr)
        return 2
    except QualityTargetMissed as exc:
        error = {"code": "quality_target_missed", "message": exc.message, "details": exc.figures}
        print(json.dumps({"error": error}, indent=2), file=sys.stderr)
        return 3
    finally:
        if ranker is not None:
            await ranker.provider.close()
    print(result.model_dump_json(indent=2))
    return 0

