"""The OpenAPI contract: committed, valid, and shaped for generated SDKs (named schemas, problem+json, security)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from app.api.app import create_app
from app.api.docs import contract

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"
OPERATIONS = {
    "create_job", "get_job", "list_jobs", "cancel_job", "list_job_events", "stream_job_events", "healthz", "readyz",
    "get_webhook_secret", "create_upload", "get_job_output", "get_job_thumbnail", "get_job_captions",
    "delete_job_output", "list_job_webhooks", "redeliver_job_webhook",
}  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return contract(create_app())


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
        "WebhookDelivery", "WebhookAttempt",
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
