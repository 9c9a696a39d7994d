"""`smartedit submit | status | list | cancel | watch | download`: the API from a terminal, with a live progress bar."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from app.cli.client import ApiClient, ClientError, StreamLost
from app.config import Settings

FINAL = {"completed", "failed", "cancelled"}
_URL = ("https://", "http://", "s3://")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the client commands on the `smartedit` parser."""
    submit = _command(
        commands,
        "submit",
        "submit a job: FILE on this machine is uploaded; --server-path names a file under the server's MEDIA_ROOT",
    )
    source = submit.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "source",
        nargs="?",
        metavar="FILE",
        help="a video on this machine, uploaded to the server (POST /uploads) and sent as input_upload; "
        "or an https:// or s3:// URL the server fetches itself (input_url)",
    )
    source.add_argument(
        "--server-path",
        metavar="PATH",
        help="a video already on the server, relative to its MEDIA_ROOT (input_path; local store only); "
        "nothing is uploaded",
    )
    source.add_argument(
        "--based-on",
        metavar="JOB_ID",
        help="a completed job of yours: its source and analysis are reused (give --highlights); nothing is uploaded",
    )
    chosen = submit.add_mutually_exclusive_group()
    chosen.add_argument("--highlights", type=Path, help="JSON file: a list of {start_time, end_time, score?}")
    chosen.add_argument("--auto", action="store_true", help="let the service pick the clips (the default)")
    submit.add_argument("--aspect", default=None, help="aspect ratio of the reel: source, 16:9, 9:16, 1:1, 4:5")
    submit.add_argument(
        "--preset", default=None, help="libx264 preset, ultrafast to slow (default fast); setting it forces an encode"
    )
    submit.add_argument("--wait", action="store_true", help="show progress until the job ends")
    submit.add_argument("--output", type=Path, metavar="FILE", help="download the reel here (implies --wait)")
    for name, text in (("status", "a job's status"), ("cancel", "cancel a job"), ("watch", "a job's live progress")):
        _command(commands, name, text).add_argument("job_id")
    _command(commands, "list", "your jobs, newest first")
    download = _command(commands, "download", "save a completed job's reel (GET /jobs/{id}/output)")
    download.add_argument("job_id")
    download.add_argument("-o", "--output", type=Path, metavar="FILE", help="where to save it (default ./<job id>.mp4)")


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    parser.add_argument("--url", help="the API (default SMARTEDIT_URL, else http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="the API key (default SMARTEDIT_API_KEY)")
    return parser


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one client command; a ClientError is printed as one line and its exit code returned."""
    err = Console(stderr=True, highlight=False)
    try:
        url, key = args.url or settings.smartedit_url, args.api_key or settings.smartedit_api_key
        async with ApiClient(url, key, heartbeat=settings.sse_heartbeat_seconds) as api:
            return await COMMANDS[args.command](api, args)
    except ClientError as exc:
        err.print(f"smartedit: {exc}", soft_wrap=True, markup=False)
        return exc.exit_code


async def _submit(api: ApiClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.server_path is not None:
        body["input_path"] = args.server_path
    elif args.based_on is not None:
        body["based_on"] = args.based_on
    elif args.source.startswith(_URL):
        body["input_url"] = args.source
    elif Path(args.source).is_file():  # a file on this machine: sent to the server, which may be anywhere
        body["input_upload"] = await api.upload(Path(args.source))
    else:
        raise ClientError(
            f"{args.source}: no such file on this machine (a file under the server's MEDIA_ROOT: "
            f"--server-path {args.source})",
            exit_code=2,
        )
    if args.highlights:
        try:
            body["highlights"] = json.loads(args.highlights.read_text())
        except (OSError, ValueError) as exc:
            raise ClientError(f"cannot read highlights from {args.highlights}: {exc}", exit_code=2) from exc
    output = {"aspect_ratio": args.aspect, "preset": args.preset}
    if output := {name: value for name, value in output.items() if value}:
        body["output"] = output
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
        print(f"{job['id']}  {job['status']:<9}  {job['progress'] * 100:5.1f}%  {source_of(job)}")
    return 0


def source_of(job: dict[str, Any]) -> str:
    """The job's source as a person reads it: the server path, the URL, the base job, or the upload."""
    if job.get("input_path"):
        return str(job["input_path"])
    if job.get("input_url"):
        return str(job["input_url"])
    if job.get("based_on"):
        return f"based on {job['based_on']}"
    return f"upload {job.get('input_upload') or '?'}"


async def _cancel(api: ApiClient, args: argparse.Namespace) -> int:
    job = await api.call("DELETE", f"/jobs/{args.job_id}")
    print(f"{job['id']} {job['status']}{' (stopping)' if job['status'] == 'running' else ''}")
    return 0


async def _watch(api: ApiClient, args: argparse.Namespace) -> int:
    return await _finish(api, await follow(api, args.job_id), None)


async def _download(api: ApiClient, args: argparse.Namespace) -> int:
    target: Path = args.output or Path(f"{args.job_id}.mp4")
    if not await api.download(args.job_id, target):
        raise ClientError(f"this server has no GET /jobs/{{id}}/output: the reel of {args.job_id} stays on it")
    print(target)
    return 0


COMMANDS = {
    "submit": _submit, "status": _status, "list": _list, "cancel": _cancel, "watch": _watch, "download": _download,
}  # fmt: skip


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
    """Show the job's progress from its event stream until it ends; a dropped or silent stream is resumed."""
    with progress_bar() as bar:
        task = bar.add_task("queued", total=1.0)
        try:
            async with contextlib.aclosing(api.follow(job_id)) as events:
                async for event in events:
                    if event.name == "stage":
                        bar.update(task, description=event.data["stage"].split(":")[0])
                    elif event.name == "progress":
                        stage = event.data["stage"] or "queued"
                        bar.update(task, completed=event.data["progress"], description=stage)
                    elif event.name == "job":
                        bar.update(task, completed=event.data["progress"], description=event.data["status"])
                        job: dict[str, Any] = event.data
                        return job
        except StreamLost:
            pass
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
    elif path := (job.get("result") or {}).get("output_path"):  # the local store: the reel's file on the server
        print(path)
    else:  # object storage: where this client reaches it (`smartedit download` saves it)
        print(f"{api.url}/jobs/{job['id']}/output")
    return 0
