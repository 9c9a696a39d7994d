"""Every Prometheus metric of the service, in one registry. Names follow the brief's alerts."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

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
    "Processing failures (ours, not the user's input) by stage and error type; retries included",
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
PROCESSING_ERRORS = (
    "processing_failed",
    "quality_target_missed",
    "verification_failed",
    "io_error",
    "retries_exhausted",
)
PAID_APIS = ("openai",)  # the brief's label; every OpenAI-compatible provider counts here
for _stage in STAGES:
    stage_duration.labels(_stage)
    for _error in PROCESSING_ERRORS:
        errors.labels(_stage, _error)
for _api in PAID_APIS:
    cost.labels(_api)
for _outcome in ("delivered", "retry", "failed"):
    webhook_deliveries.labels(_outcome)
for _status in ("completed", "failed", "cancelled"):
    jobs_finished.labels(_status)
