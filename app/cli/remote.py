"""`smartedit submit | status | list | cancel | watch`: the API from a terminal, with a live progress bar."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from app.cli.client import ApiClient, ClientError
from app.config import Settings

FINAL = {"completed", "failed", "cancelled"}
_RESUMES = 5  # reconnects of a dropped stream before giving up


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the client commands on the `smartedit` parser."""
    submit = _command(commands, "submit", "submit a job (FILE relative to the server's MEDIA_ROOT, or a URL)")
    submit.add_argument("source", help="a path under the server's MEDIA_ROOT (relative to it), or an https/s3 URL")
    chosen = submit.add_mutually_exclusive_group()
    chosen.add_argument("--highlights", type=Path, help="JSON file: a list of {start_time, end_time, score?}")
    chosen.add_argument("--auto", action="store_true", help="let the service pick the clips (the default)")
    submit.add_argument("--aspect", default=None, help="aspect ratio of the reel: source, 16:9, 9:16, 1:1, 4:5")
    submit.add_argument("--wait", action="store_true", help="show progress until the job ends")
    submit.add_argument("--output", type=Path, help="download the reel here (implies --wait)")
    for name, text in (("status", "a job's status"), ("cancel", "cancel a job"), ("watch", "a job's live progress")):
        _command(commands, name, text).add_argument("job_id")
    _command(commands, "list", "your jobs, newest first")


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=text)
    parser.add_argument("--url", help="the API (default SMARTEDIT_URL, else http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="the API key (default SMARTEDIT_API_KEY)")
    return parser


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one client command; a ClientError is printed as one line and its exit code returned."""
    err = Console(stderr=True, highlight=False)
    try:
        async with ApiClient(args.url or settings.smartedit_url, args.api_key or settings.smartedit_api_key) as api:
            return await COMMANDS[args.command](api, args)
    except ClientError as exc:
        err.print(f"smartedit: {exc}", soft_wrap=True, markup=False)
        return exc.exit_code


async def _submit(api: ApiClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    local = Path(args.source)
    if args.source.startswith(("https://", "http://", "s3://")):
        body["input_url"] = args.source
    elif local.is_file():  # a file on this machine: sent to the server, which may be anywhere
        body["input_upload"] = await api.upload(local)
    else:  # a path under the server's MEDIA_ROOT
        body["input_path"] = args.source
    if args.highlights:
        try:
            body["highlights"] = json.loads(args.highlights.read_text())
        except (OSError, ValueError) as exc:
            raise ClientError(f"cannot read highlights from {args.highlights}: {exc}", exit_code=2) from exc
    if args.aspect:
        body["output"] = {"aspect_ratio": args.aspect}
    job = await api.call("POST", "/jobs", json=body)
    print(job["id"], file=sys.stderr if args.wait or args.output else sys.stdout)
    if not (args.wait or args.output):
        return 0
    final = await follow(api, job["id"])
    return await _finish(api, final, args.output)


async def _status(api: ApiClient, args: argparse.Namespace) -> int:
    print(json.dumps(await api.call("GET", f"/jobs/{args.job_id}"), indent=2))
    return 0


async def _list(api: ApiClient, args: argparse.Namespace) -> int:
    page = await api.call("GET", "/jobs")
    for job in page["items"]:
        print(f"{job['id']}  {job['status']:<9}  {job['progress'] * 100:5.1f}%  {job['input_path']}")
    return 0


async def _cancel(api: ApiClient, args: argparse.Namespace) -> int:
    job = await api.call("DELETE", f"/jobs/{args.job_id}")
    print(f"{job['id']} {job['status']}{' (stopping)' if job['status'] == 'running' else ''}")
    return 0


async def _watch(api: ApiClient, args: argparse.Namespace) -> int:
    return await _finish(api, await follow(api, args.job_id), None)


COMMANDS = {"submit": _submit, "status": _status, "list": _list, "cancel": _cancel, "watch": _watch}


def progress_bar(console: Console | None = None) -> Progress:
    """The bar both `watch` and `process` show: stage, bar, percent, elapsed."""
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
    )


async def follow(api: ApiClient, job_id: str) -> dict[str, Any]:
    """Show the job's progress from its event stream until it ends; resumes a dropped stream where it left off."""
    last_id: str | None = None
    with progress_bar() as bar:
        task = bar.add_task("queued", total=1.0)
        for _ in range(_RESUMES):
            async for event in api.events(job_id, last_event_id=last_id):
                if event.name == "stage":
                    last_id = event.id
                    bar.update(task, description=event.data["stage"].split(":")[0])
                elif event.name == "progress":
                    bar.update(task, completed=event.data["progress"], description=event.data["stage"] or "queued")
                elif event.name == "job":
                    bar.update(task, completed=event.data["progress"], description=event.data["status"])
                    job: dict[str, Any] = event.data
                    return job
    job = await api.call("GET", f"/jobs/{job_id}")
    if job["status"] not in FINAL:
        raise ClientError(f"lost the progress stream of job {job_id}; `smartedit watch {job_id}` resumes it")
    return job


async def _finish(api: ApiClient, job: dict[str, Any], output: Path | None) -> int:
    if job["status"] != "completed":
        error = job.get("error") or {}
        reason = f": {error.get('message')} ({error.get('code')})" if error else ""
        raise ClientError(f"job {job['id']} {job['status']}{reason}")
    if output is not None and await api.download(job["id"], output):
        print(output)
    else:
        print(job["result"]["output_path"])
    return 0
