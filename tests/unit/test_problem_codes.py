"""The one list of problem codes (`PROBLEMS`): every code the API answers with is in it, with its status, and the
README's table and the spec's `Problem.code` are written from it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from app.api.app import create_app
from app.domain.errors import JOB_ERRORS, PROBLEMS
from app.domain.jobs import JOB_ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
# Answered by the exception handlers (app/api/problems.py) and the body limit (app/api/limits.py), not raised.
HANDLED = {
    "not_found": 404,
    "method_not_allowed": 405,
    "http_error": 400,
    "invalid_request": 422,
    "database_unavailable": 503,
    "redis_unavailable": 503,
    "storage_unavailable": 503,
    "internal_error": 500,
    "body_too_large": 413,
}


def _raised() -> set[tuple[int, str]]:
    """(status, code) of every Problem(…) and JobRefused(…) in the app, and every submit-time SourceError (422)."""
    found = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
            if name in ("Problem", "JobRefused") and len(args) >= 2 and isinstance(args[1], str):
                assert isinstance(args[0], int), f"{path}: {ast.unparse(node)}"
                found.add((args[0], args[1]))
            elif name == "SourceError" and path.name == "sources.py" and args and isinstance(args[0], str):
                found.add((422, args[0]))
    return found


def test_every_code_the_api_answers_with_is_in_the_one_list_with_its_status() -> None:
    raised = _raised() | {(status, code) for code, status in HANDLED.items()}
    listed = {(status, code) for code, problem in PROBLEMS.items() for status in problem.statuses}
    # A SourceError code that only a worker's fetch can raise (input_not_found of an expired upload) is a job's.
    unlisted = {(s, c) for s, c in raised - listed if not (s == 422 and c in JOB_ERRORS and c not in PROBLEMS)}
    assert not unlisted, f"add these (status, code) to PROBLEMS in app/domain/errors.py: {sorted(unlisted)}"
    assert not listed - raised, f"PROBLEMS lists what nothing answers: {sorted(listed - raised)}"


def test_the_readme_table_is_the_list() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| ([0-9, ]+) \| (.+) \|$", readme, re.M)
    expected = [(p.code, ", ".join(map(str, p.statuses)), p.meaning) for p in PROBLEMS.values()]
    assert rows == expected, "README's problem code table must list PROBLEMS in order: regenerate it"


def test_the_contract_lists_every_known_code_as_an_open_set() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    for name, known in (("Problem", list(PROBLEMS)), ("JobError", list(JOB_ERROR_CODES))):
        code = schemas[name]["properties"]["code"]
        assert code["type"] == "string" and "enum" not in code, name  # a new code must break no client
        assert code["x-extensible-enum"] == known, name
        assert all(f"`{c}`" in code["description"] for c in known), name
        assert set(code["examples"]) <= set(known), name
