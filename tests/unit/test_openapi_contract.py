"""The OpenAPI contract: committed, valid, and shaped for generated SDKs (named schemas, problem+json, security)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from app.api.app import create_app
from app.api.routes import CURSOR_PATTERN, _decode_cursor, _encode_cursor
from app.config import Settings

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"
OPERATIONS = {
    "create_job", "get_job", "list_jobs", "cancel_job", "list_job_events", "stream_job_events", "healthz", "readyz",
    "get_webhook_secret", "create_upload", "get_job_output", "get_job_thumbnail", "get_job_captions",
    "delete_job_output", "list_job_webhooks", "redeliver_job_webhook", "create_signed_url", "get_job_analysis",
    "get_job_filmstrip", "get_job_source",
}  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(Settings(api_keys=["spec"])).openapi()  # the keyed spec is the committed one


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in spec["paths"].values() for op in path.values()]


def test_committed_spec_matches_the_app(spec: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == json.loads(json.dumps(spec)), "the API changed: run `make openapi` and commit openapi.json"


def test_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(json.loads(json.dumps(spec)))


def test_operation_ids_and_named_schemas(spec: dict[str, Any]) -> None:
    assert {op["operationId"] for op in _operations(spec)} == OPERATIONS
    schemas = spec["components"]["schemas"]
    for name in (
        "JobCreate", "Job", "JobResult", "Verification", "Segment", "Highlight", "OutputOptions", "Problem",
        "WebhookDelivery", "WebhookAttempt", "JobAnalysis",
    ):  # fmt: skip
        assert name in schemas, name
    assert schemas["JobStatus"]["enum"] == ["queued", "running", "completed", "failed", "cancelled"]
    assert spec["components"]["schemas"]["Job"]["properties"]["status"] == {"$ref": "#/components/schemas/JobStatus"}
    result = schemas["Job"]["properties"]["result"]["anyOf"][0]
    assert result == {"$ref": "#/components/schemas/JobResult"}
    assert "HTTPValidationError" not in json.dumps(spec)
    # Open sets stay strings, their known values listed (tests/unit/test_problem_codes.py), so a new code breaks no SDK.
    code = schemas["Problem"]["properties"]["code"]
    assert code["type"] == "string" and "enum" not in code and "`job_not_found`" in code["description"]


def test_every_error_is_a_problem_and_limits_say_when_to_retry(spec: dict[str, Any]) -> None:
    for op in _operations(spec):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (op["operationId"], status)
                if status in ("429", "503"):
                    assert "Retry-After" in response["headers"]
    create = spec["paths"]["/jobs"]["post"]["responses"]
    assert {"401", "413", "422", "429", "503"} <= set(create)
    assert "Location" in create["202"]["headers"]
    assert "409" in spec["paths"]["/jobs/{job_id}"]["delete"]["responses"]


def test_auth_is_a_security_scheme_not_a_parameter(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["apiKey"]["name"] == "X-API-Key"
    for op in _operations(spec):
        names = {p["name"].lower() for p in op.get("parameters", [])}
        assert not names & {"authorization", "x-api-key"}, op["operationId"]
    assert spec["paths"]["/jobs/{job_id}"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]


def test_webhooks_carry_standard_webhooks_headers(spec: dict[str, Any]) -> None:
    assert set(spec["webhooks"]) == {"job.completed", "job.failed", "job.cancelled"}
    for hook in spec["webhooks"].values():
        headers = {p["name"] for p in hook["post"]["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        body = hook["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/WebhookEvent"}


def _examples(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example in the spec: of a schema or a property (`examples`), of a media
    type or a parameter (`example`, `examples.*.value`)."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    if isinstance(node, dict):
        schema = node.get("schema")
        if isinstance(schema, dict):  # a media type or a parameter
            if "example" in node:
                found.append((where, schema, node["example"]))
            for name, example in node.get("examples", {}).items():
                found.append((f"{where}/examples/{name}", schema, example["value"]))
        elif isinstance(node.get("examples"), list) and ("type" in node or "properties" in node or "$ref" in node):
            found += [(where, node, example) for example in node["examples"]]
        for key, value in node.items():
            found += _examples(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _examples(value, f"{where}/{i}")
    return found


def test_every_example_validates_against_its_schema(spec: dict[str, Any]) -> None:
    document = json.loads(json.dumps(spec))
    examples = _examples(document)
    places = {where for where, _, _ in examples}
    assert "#/paths//jobs/post/responses/202/content/application/json" in places  # the Job example
    assert "#/components/schemas/JobCreate" in places and len(examples) >= 7
    for where, schema, example in examples:
        # The components beside the schema: its "#/components/…" references resolve as they do in the spec.
        rooted = {**schema, "components": document["components"]}
        errors = [e.message for e in Draft202012Validator(rooted).iter_errors(example)]
        assert not errors, (where, errors)


def test_a_server_without_keys_serves_the_spec_without_security(spec: dict[str, Any]) -> None:
    open_spec = create_app(Settings()).openapi()
    assert "securitySchemes" not in open_spec["components"] and "security" not in json.dumps(open_spec["paths"])
    assert all("401" not in op["responses"] for op in _operations(open_spec))  # no key is asked, none refused
    assert {"bearer", "apiKey"} == set(spec["components"]["securitySchemes"])
    keyed = [op for op in _operations(spec) if op["operationId"] not in ("healthz", "readyz")]
    assert all(op["security"] == [{"bearer": []}, {"apiKey": []}] for op in keyed)


async def test_405_says_every_method_the_path_takes() -> None:
    app = create_app(Settings(api_keys=["k"]), run_worker=False)  # routing answers 405 before any service is asked
    job = f"/jobs/{uuid.uuid4()}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for method, path, allow in (
            ("TRACE", "/healthz", "GET"),
            ("POST", job, "DELETE, GET"),
            ("OPTIONS", f"{job}/output", "DELETE, GET, HEAD"),
            ("PUT", f"{job}/captions", "GET, HEAD"),
            ("GET", "/uploads", "POST"),
        ):
            response = await client.request(method, path)
            assert response.status_code == 405 and response.headers["allow"] == allow, (method, path)
            assert response.json()["code"] == "method_not_allowed"


def test_the_one_source_rule_is_in_the_schema(spec: dict[str, Any]) -> None:
    document = json.loads(json.dumps(spec))
    validator = Draft202012Validator({"$ref": "#/components/schemas/JobCreate", "components": document["components"]})
    upload = str(uuid.uuid4())
    for body, valid in (
        ({"input_path": "a.mp4"}, True),
        ({"input_url": "https://example.com/a.mp4", "input_path": None}, True),
        ({"input_upload": upload, "input_path": None, "input_url": None}, True),
        ({}, False),
        ({"input_path": None}, False),
        ({"input_path": "a.mp4", "input_url": "https://example.com/a.mp4"}, False),
        ({"input_url": "https://example.com/a.mp4", "input_upload": upload}, False),
    ):
        assert validator.is_valid(body) is valid, body


def test_each_sse_event_names_the_schema_of_its_data(spec: dict[str, Any]) -> None:
    stream = spec["paths"]["/jobs/{job_id}/events/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    events = {b["properties"]["event"]["const"]: b["properties"]["data"] for b in stream["schema"]["oneOf"]}
    assert {name: data["contentSchema"]["$ref"].rsplit("/", 1)[1] for name, data in events.items()} == {
        "stage": "JobEvent", "progress": "JobProgress", "job": "Job",
    }  # fmt: skip
    assert all(data["contentMediaType"] == "application/json" for data in events.values())


@given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_cursor_of_the_declared_form_is_a_place_in_the_list(cursor: str) -> None:
    decoded = _decode_cursor(cursor)
    assert decoded is not None and re.fullmatch(CURSOR_PATTERN, _encode_cursor(*decoded))


def test_a_cursor_round_trips() -> None:
    place = (datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=UTC), uuid.uuid4())
    assert _decode_cursor(_encode_cursor(*place)) == place
