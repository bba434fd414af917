"""The upload requests' metrics: each request's outcome, and the time of an accepted one."""

import contextlib
import time
from collections.abc import Iterator

from aiohttp import web

from services.common import metrics
from services.common.request_parsing import Refusal
from services.gateway.uploads.idempotency import AnswerReplayed
from services.gateway.uploads.upload_rules import UploadRefused


@contextlib.contextmanager
def counted_upload() -> Iterator[None]:
    """Count the outcome of the upload request handled inside: accepted, replayed (the answer to its
    Idempotency-Key given again), refused (a rule or a malformed request), interrupted (the client stopped
    sending) or failed (anything else)."""
    started = time.monotonic()
    try:
        yield
    except UploadRefused as refusal:
        interrupted = refusal.failures[0].code == "incomplete_upload"
        metrics.UPLOADS_RECEIVED.labels("interrupted" if interrupted else "refused").inc()
        raise
    except AnswerReplayed:
        metrics.UPLOADS_RECEIVED.labels("replayed").inc()
        raise
    except (Refusal, web.HTTPClientError):
        metrics.UPLOADS_RECEIVED.labels("refused").inc()
        raise
    except BaseException:
        metrics.UPLOADS_RECEIVED.labels("failed").inc()
        raise
    metrics.UPLOADS_RECEIVED.labels("accepted").inc()
    metrics.UPLOAD_DURATION.observe(time.monotonic() - started)
