"""Every Prometheus metric of the service, in one registry. Names follow the brief's alerts."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import make_server

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

from app.domain.errors import JOB_ERRORS

registry: CollectorRegistry = REGISTRY

STAGE_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)

processing_ratio = Gauge(
    "video_processing_ratio", "Seconds of processing per second of source, last finished job, by stage", ["stage"]
)
loudness_spread = Gauge(
    "video_processing_audio_loudness_spread_lu", "Loudness spread between the clips of the last reel (LU)"
)
output_loudness = Gauge("video_processing_output_loudness_lufs", "Integrated loudness of the last reel (LUFS)")
errors = Counter(
    "video_processing_errors_total",
    "Jobs failed by a fault of ours (not the user's input, not a retry or hand-back), by stage and code",
    ["stage", "error_type"],
)
rejected_inputs = Counter(
    "video_processing_rejected_inputs_total", "Jobs failed because of their input (a user's mistake), by code", ["code"]
)
cost = Counter("video_processing_cost_usd_total", "Money spent on paid APIs (USD)", ["api_name"])
jobs_submitted = Counter("video_processing_jobs_submitted_total", "Jobs accepted by the API")
jobs_finished = Counter("video_processing_jobs_finished_total", "Jobs that reached a final status", ["status"])
queue_depth = Gauge("video_processing_queue_depth", "Jobs waiting to be claimed")
jobs_running = Gauge("video_processing_jobs_running", "Jobs being processed right now")
stage_duration = Histogram(
    "video_processing_stage_duration_seconds", "Wall time of each stage", ["stage"], buckets=STAGE_SECONDS_BUCKETS
)
segments_detected = Histogram("video_processing_segments_detected", "Clips per reel", buckets=(0, 1, 2, 3, 4, 5, 6))
highlight_score = Histogram(
    "video_processing_highlight_score",
    "Scores of the clips that made it into reels",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
webhook_deliveries = Counter(
    "video_processing_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["outcome"]
)


# Series a panel or an alert reads exist from the first scrape, at 0: a rate over an absent series
# is no data, not zero, and an alert on it would never fire.
STAGES = ("fetch", "validate", "analyze", "render", "verify")
# The job error codes, from the one table: ours label errors_total, the user's rejected_inputs_total.
PROCESSING_ERRORS = tuple(code for code, error in JOB_ERRORS.items() if not error.user)
REJECTED_INPUTS = tuple(code for code, error in JOB_ERRORS.items() if error.user)
PAID_APIS = ("openai",)  # the brief's label; every OpenAI-compatible provider counts here
for _stage in STAGES:
    stage_duration.labels(_stage)
    processing_ratio.labels(_stage)  # 0 until a job is measured
    for _error in PROCESSING_ERRORS:
        errors.labels(_stage, _error)
processing_ratio.labels("total")
for _code in REJECTED_INPUTS:
    rejected_inputs.labels(_code)
for _api in PAID_APIS:
    cost.labels(_api)
for _outcome in ("delivered", "retry", "failed"):
    webhook_deliveries.labels(_outcome)
for _status in ("completed", "failed", "cancelled"):
    jobs_finished.labels(_status)


def serve_metrics(port: int, *, host: str, token: str | None) -> None:
    """A worker's /metrics on `host:port` in a daemon thread; with `token`, only for `Authorization: Bearer <token>`.

    On HOST, like the API: loopback unless the deployment opens it (a container's 0.0.0.0), and then guarded by
    METRICS_TOKEN as the API's /metrics is.
    """
    app = make_wsgi_app(registry)
    expected = f"Bearer {token}".encode() if token else None

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = environ.get("HTTP_AUTHORIZATION", "").encode()
        if expected is not None and not hmac.compare_digest(given, expected):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"/metrics needs Authorization: Bearer <METRICS_TOKEN>\n"]
        return app(environ, start_response)

    server = make_server(host, port, guarded, ThreadingWSGIServer, handler_class=_SilentHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
