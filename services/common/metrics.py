"""Every metric the services export, defined once (prometheus-client), served at
/metrics on each service's health port.

Names follow Prometheus conventions: the unit in the name, `_total` on counters,
and labels of few values (never an upload id). A service exports only the
metrics it touches; Prometheus's `job` and `instance` labels tell services and
replicas apart.
"""

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

from services.common.messages import RunOutcome

# Seconds, from a quick upload of a few MiB to a long one of tens of GiB.
UPLOAD_SECONDS_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Seconds, from a no-op pipeline to LORIS-MRI on a large study.
PIPELINE_SECONDS_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
HANDLER_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# --- The gateway: uploads and pre-flight ------------------------------------
UPLOADS_RECEIVED = Counter(
    "uploader_uploads_received_total", "Upload requests that ended, by outcome (accepted, replayed, refused, interrupted, failed).",
    ["outcome"])
UPLOAD_BYTES_RECEIVED = Counter(
    "uploader_upload_received_bytes_total", "Bytes of scan files accepted and stored.")
UPLOAD_DURATION = Histogram(
    "uploader_upload_duration_seconds", "Time from the start of an accepted upload request to its 202.",
    buckets=UPLOAD_SECONDS_BUCKETS)
PREFLIGHT_DECISIONS = Counter(
    "uploader_preflight_decisions_total",
    "Pre-flight checks by decision (ok, refused), one per failed rule when refused (rule=\"none\" when ok).",
    ["decision", "rule"])

# --- The gateway: sign-in -----------------------------------------------------
PASSWORD_CHECKS = Counter(
    "uploader_password_checks_total", "Passwords checked at sign-in, by result (match, mismatch).", ["result"])
SIGN_INS_REFUSED = Counter(
    "uploader_sign_ins_refused_total",
    "Sign-ins refused without checking the password: the gateway was checking as many as it may (reason=\"busy\"), "
    "or the username or the client address had too many failures (\"username_locked_out\", \"address_locked_out\").",
    ["reason"])

# --- The validator ----------------------------------------------------------
VALIDATION_DECISIONS = Counter(
    "uploader_validation_decisions_total",
    "Received uploads decided by the validator (validated, rejected), one per failed rule when rejected.",
    ["decision", "rule"])

# --- The launcher -----------------------------------------------------------
PIPELINE_RUNS = Counter(
    "uploader_pipeline_runs_total",
    "Pipeline runs that ended, by outcome and exit code (\"none\" when the process did not exit by itself).",
    ["outcome", "exit_code"])
PIPELINE_DURATION = Histogram(
    "uploader_pipeline_duration_seconds", "Time from a pipeline's start to its end, by outcome.",
    ["outcome"], buckets=PIPELINE_SECONDS_BUCKETS)
PIPELINE_RUNS_QUEUED = Gauge(
    "uploader_pipeline_runs_queued", "Runs waiting for a free launcher slot (all launchers).")
PIPELINE_RUNS_IN_FLIGHT = Gauge(
    "uploader_pipeline_runs_in_flight", "Pipeline runs this launcher is running now.")
PIPELINE_SLOTS = Gauge(
    "uploader_pipeline_slots", "Runs this launcher may run at once (UPLOADER_MAX_CONCURRENT_RUNS).")

# --- Messaging, in every service --------------------------------------------
MESSAGES_CONSUMED = Counter(
    "uploader_messages_consumed_total", "Messages taken from a queue and handled (duplicates included).", ["queue"])
MESSAGES_REDELIVERED = Counter(
    "uploader_messages_redelivered_total", "Messages that arrived flagged as redelivered by the broker.", ["queue"])
MESSAGES_FAILED = Counter(
    "uploader_messages_failed_total",
    "Messages whose handler failed, returned to the queue for another delivery.", ["queue"])
MESSAGES_DEAD_LETTERED = Counter(
    "uploader_messages_dead_lettered_total",
    "Messages sent to the dead-letter queue: by the consumer (reason=\"unparseable\") or by the broker after "
    "a failed delivery that reached the delivery limit (reason=\"delivery_limit\").", ["queue", "reason"])
MESSAGES_PUBLISHED = Counter(
    "uploader_messages_published_total", "Events published to the events exchange, by routing key.", ["routing_key"])
HANDLER_DURATION = Histogram(
    "uploader_message_handler_duration_seconds", "Time to handle one message, commit included.", ["queue"],
    buckets=HANDLER_SECONDS_BUCKETS)

# --- Retention: what is pruned after a while ---------------------------------
RETENTION_PRUNED = Counter(
    "uploader_retention_pruned_total",
    "Rows and files removed after their retention: published outbox rows (table=\"outbox\"), de-duplication "
    "records (\"processed_events\"), files of attempts that will not run again (\"attempt_files\"), "
    "partial files left by a crash (\"partial_files\") and expired tus uploads (\"tus_uploads\").", ["schema", "table"])

# --- Which replica this is ---------------------------------------------------
REPLICA_INFO = Gauge(
    "uploader_replica_info", "1 for each running service replica, naming it (join on instance for names).",
    ["service", "replica"])

# --- Outbox and database pool, sampled every few seconds --------------------
OUTBOX_BACKLOG = Gauge(
    "uploader_outbox_pending_events", "Events written to a service's outbox and not yet published.", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "uploader_outbox_oldest_pending_age_seconds", "Age of the oldest unpublished outbox event (0 when none).",
    ["service"])
OUTBOX_SET_ASIDE = Counter(
    "uploader_outbox_set_aside_total",
    "Outbox events set aside by the relay because RabbitMQ refused them for good (larger than its "
    "max_message_size): never published, kept in the outbox table for an operator.", ["service"])
LORIS_ROWS_SET_ASIDE = Counter(
    "uploader_loris_rows_set_aside_total",
    "LORIS site mode: uploads whose row LORIS's mri_upload cannot hold (a path longer than its UploadLocation), "
    "set aside by the gateway's keeper instead of being tried again; no run is granted for them.")
DB_POOL_CONNECTIONS = Gauge(
    "uploader_db_pool_connections", "Database pool connections by state (in_use, idle).", ["service", "state"])
DB_POOL_MAX_CONNECTIONS = Gauge(
    "uploader_db_pool_max_connections", "The most connections the service's pool may open.", ["service"])


UPLOAD_OUTCOMES = ("accepted", "replayed", "refused", "interrupted", "failed")
RUN_OUTCOMES_WITHOUT_EXIT_CODE = (RunOutcome.TIMED_OUT, RunOutcome.NOT_STARTED, RunOutcome.INTERRUPTED,
                                  RunOutcome.CANCELLED)


def start_at_zero_for_queue(queue: str) -> None:
    """A counter series that first appears at 1 shows no increase in rate(): create each at 0 up front."""
    for counter in (MESSAGES_CONSUMED, MESSAGES_REDELIVERED, MESSAGES_FAILED):
        counter.labels(queue)
    for reason in ("unparseable", "delivery_limit"):
        MESSAGES_DEAD_LETTERED.labels(queue, reason)


def start_uploads_at_zero() -> None:
    for outcome in UPLOAD_OUTCOMES:
        UPLOADS_RECEIVED.labels(outcome)


def start_sign_ins_at_zero() -> None:
    for result in ("match", "mismatch"):
        PASSWORD_CHECKS.labels(result)
    for reason in ("busy", "username_locked_out", "address_locked_out"):
        SIGN_INS_REFUSED.labels(reason)


def start_runs_at_zero() -> None:
    PIPELINE_RUNS.labels(RunOutcome.SUCCEEDED.value, "0")
    for outcome in RUN_OUTCOMES_WITHOUT_EXIT_CODE:
        PIPELINE_RUNS.labels(outcome.value, "none")


def count_run(outcome: RunOutcome, exit_code: int | None, seconds: float | None = None) -> None:
    PIPELINE_RUNS.labels(outcome.value, "none" if exit_code is None else str(exit_code)).inc()
    if seconds is not None:
        PIPELINE_DURATION.labels(outcome.value).observe(seconds)


def count_decision(counter: Counter, failures: list, *, ok: str, refused: str) -> None:
    """One count for a decision that passed (rule="none"), or one per failed rule (by its code)."""
    if not failures:
        counter.labels(ok, "none").inc()
    for failure in failures:
        counter.labels(refused, failure.code).inc()


async def serve_metrics(request: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
