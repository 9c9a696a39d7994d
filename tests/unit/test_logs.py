"""The service's log lines: one JSON object each, naming the request or the job they belong to."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar, Token
from typing import Any

import pytest

from app.ops import logs


def test_a_json_line_names_the_request_and_the_job_in_context(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("json")
        tokens: list[Token[Any]] = [
            logs.request_id.set("req-1"),
            logs.job_id.set("job-9"),
            logs.attempt.set(2),
            logs.stage.set("render"),
        ]
        logging.getLogger("app.test").warning("a service failed; handing it back")
        context: tuple[ContextVar[Any], ...] = (logs.request_id, logs.job_id, logs.attempt, logs.stage)
        for var, token in zip(context, tokens, strict=True):
            var.reset(token)
        logging.getLogger("app.test").info("outside any job")
    finally:
        root.handlers[:], root.level = saved
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["message"] == "a service failed; handing it back" and first["level"] == "WARNING"
    assert (first["request_id"], first["job_id"], first["attempt"], first["stage"]) == ("req-1", "job-9", 2, "render")
    assert first["logger"] == "app.test" and first["time"]
    assert "job_id" not in second and second["message"] == "outside any job"


def test_the_access_line_of_a_signed_url_does_not_show_its_signature(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    # uvicorn's access line, as `serve` has it reach our handler (log_config=None); on a logger of the test's own,
    # since a uvicorn started in this process with its own logging config keeps "uvicorn.*" lines to itself.
    access = logging.getLogger("tests.uvicorn.access")
    path = "/jobs/0b6f9c1e/output?expires=1767607200&signature=vHffJ6HbooxzxL0ci3zcMBto7QvW1ioyBwBDCyqt4Yc"
    try:
        logs.configure("json")
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", path, "1.1", 200)
    finally:
        root.handlers[:], root.level = saved
    line = json.loads(capsys.readouterr().err)
    assert "vHffJ6" not in line["message"] and "output?expires=1767607200&signature=…" in line["message"]
