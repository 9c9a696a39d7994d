"""Request and response schemas apart: a request may leave out every field that has a default; an answer has it."""

from __future__ import annotations

from typing import Any

import pytest

from app.api.app import create_app
from app.api.docs import contract
from app.api.request_schemas import split_request_schemas
from app.domain.spec import Highlight, JobSpec, OutputOptions


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return contract(create_app())["components"]["schemas"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_no_request_schema_names_a_default_and_its_description_says_it(schemas: dict[str, Any]) -> None:
    for name in ("JobCreate", "Highlight", "OutputOptions"):
        for key, prop in schemas[name]["properties"].items():
            assert "default" not in prop, (name, key)
    assert schemas["Highlight"]["required"] == ["start_time", "end_time"]
    assert schemas["Highlight"]["properties"]["transition"]["description"].endswith("(default `fade`)")
    assert schemas["OutputOptions"]["properties"]["max_duration"]["description"].endswith("(default `300.0`)")
    # The defaults stated are the ones the server applies.
    assert Highlight(start_time=0, end_time=20).transition == "fade" and OutputOptions().max_duration == 300.0


def test_what_the_server_sends_requires_every_defaulted_field(schemas: dict[str, Any]) -> None:
    read = schemas["HighlightRead"]
    assert read["required"] == ["start_time", "end_time", "score", "transition"]
    assert read["properties"]["score"]["default"] == 0.5
    assert set(schemas["OutputOptionsRead"]["required"]) >= {"aspect_ratio", "resolution", "max_duration", "render"}
    job = schemas["Job"]["properties"]
    assert job["highlights"]["anyOf"][0]["items"] == _ref("HighlightRead")
    assert job["output"] == _ref("OutputOptionsRead")
    assert schemas["JobCreate"]["properties"]["output"] == _ref("OutputOptions")
    # What the server sends has every one of those fields.
    sent = JobSpec(input_path="a.mp4", highlights=[Highlight(start_time=0, end_time=20)]).model_dump(mode="json")
    assert set(read["required"]) <= set(sent["highlights"][0])
    assert set(schemas["OutputOptionsRead"]["required"]) <= set(sent["output"])


def test_a_schema_that_holds_a_split_one_is_split_too() -> None:
    with_default = {"properties": {"n": {"type": "integer", "default": 1}}}
    spec: dict[str, Any] = {
        "paths": {
            "/a": {
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": _ref("Outer")}}},
                    "responses": {"200": {"content": {"application/json": {"schema": _ref("Outer")}}}},
                }
            }
        },
        "components": {"schemas": {"Outer": {"properties": {"inner": _ref("Inner")}}, "Inner": with_default}},
    }
    split_request_schemas(spec)
    schemas = spec["components"]["schemas"]
    assert set(schemas) == {"Outer", "OuterRead", "Inner", "InnerRead"}
    assert schemas["OuterRead"]["properties"]["inner"] == _ref("InnerRead")
    assert schemas["Outer"]["properties"]["inner"] == _ref("Inner") and "default" not in schemas["Inner"]["properties"]
    ok = spec["paths"]["/a"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == _ref("OuterRead") and schemas["InnerRead"]["required"] == ["n"]
