"""Every metric the dashboard or an alert queries has a sample from a fresh process's first scrape of /metrics.

A rate over a series that does not exist yet is no data, not zero: a panel stays empty and an alert never fires
until the first event. So each labelled counter is created at 0 with its known label values.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
# PromQL words that are neither metric names nor functions (a function is followed by "(").
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
# Aggregations may put their grouping before the "(": `sum by (le) (…)`.
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
                 "quantile", "limitk", "limit_ratio"}  # fmt: skip
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION = r"\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*"
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
# A string, a label matcher, a range, a duration, a number, a name, a bracket, or any other character.
_TOKEN = re.compile(rf'"(?:\\.|[^"\\])*"|\{{[^}}]*\}}|\[[^\]]*\]|{_DURATION}|{_NUMBER}|{_NAME}|\(|\)|[^\s]')
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}  # their ( … ) lists labels
# Prometheus' own series, not the service's.
_SCRAPER = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

# A fresh process: builds the app as `smartedit api` does and scrapes /metrics once, after one request
# (the HTTP metrics count requests, so they start with the first; the service's own exist before any).
_SCRAPE = """
import asyncio, httpx
from app.api.app import create_app
from app.config import Settings

async def main():
    app = create_app(Settings(api_keys=["k"]), run_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        first = (await client.get("/metrics")).text
        await client.get("/healthz")
        print(first + "\\n# after one request\\n" + (await client.get("/metrics")).text)

asyncio.run(main())
"""


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: not functions, keywords, label names or values."""
    tokens = _TOKEN.findall(expr)
    names: set[str] = set()
    depth = 0  # inside a grouping's label list: how many "(" are open
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if depth or (token == "(" and i and tokens[i - 1] in _GROUPING):
            depth += {"(": 1, ")": -1}.get(token, 0)
            continue
        if not re.fullmatch(_NAME, token) or token in _KEYWORDS | _AGGREGATIONS or following == "(":
            continue
        names.add(token)
    return names


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [q for p in panels for q in [p, *_panels(p.get("panels", []))]]


def _queries() -> list[str]:
    exprs = [
        target["expr"]
        for board in sorted((ROOT / "grafana").rglob("*.json"))
        for panel in _panels(json.loads(board.read_text()).get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    rules = yaml.safe_load((ROOT / "alerts.yml").read_text())
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return exprs


@pytest.fixture(scope="module")
def scrapes() -> tuple[set[str], set[str]]:
    done = subprocess.run([sys.executable, "-c", _SCRAPE], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    first, later = done.stdout.split("# after one request")

    def sampled(text: str) -> set[str]:
        return {s.name for family in text_string_to_metric_families(text) for s in family.samples}

    return sampled(first), sampled(later)


def test_the_parser_finds_names_and_only_names() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, handler) (rate(http_request_duration_seconds_bucket{handler!="/m"}'
        "[5m]))) / clamp_min(sum without (code) (increase(a_total[1h] offset 5m)), 1e-9) > on (job) b"
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "a_total", "b"}


def test_every_queried_service_metric_has_a_sample_from_the_first_scrape(scrapes: tuple[set[str], set[str]]) -> None:
    first, _ = scrapes
    queried = set().union(*map(metric_names, _queries())) - _SCRAPER
    ours = {name for name in queried if name.startswith("video_processing_")}
    assert "video_processing_rejected_inputs_total" in ours and len(ours) >= 12
    assert not ours - first, f"queried but absent from the first scrape: {sorted(ours - first)}"


def test_every_queried_http_metric_has_a_sample_after_the_first_request(scrapes: tuple[set[str], set[str]]) -> None:
    _, later = scrapes
    queried = set().union(*map(metric_names, _queries())) - _SCRAPER
    http = {name for name in queried if not name.startswith("video_processing_")}
    assert http == {"http_requests_total", "http_request_duration_seconds_bucket"}, http
    assert not http - later, sorted(http - later)
