"""Which uploads a new attempt may replace (services.gateway.uploads.UploadRecord)."""

import pytest

from services.common.progress import Progress
from services.gateway import uploads


def record(state: str, progress: Progress) -> uploads.UploadRecord:
    return uploads.UploadRecord(upload_id=1, file_name="f.tgz", attempt=1, state=state, progress=progress)


@pytest.mark.parametrize(
    ("state", "progress"),
    [
        (uploads.RECEIVED, Progress.NOT_STARTED),
        (uploads.VALIDATED, Progress.NOT_STARTED),
        (uploads.REJECTED, Progress.FAILURE),
        (uploads.FINISHED, Progress.FAILURE),
    ],
)
def test_an_upload_with_no_run_granted_or_a_failed_run_may_be_replaced(state, progress):
    assert record(state, progress).may_be_replaced


@pytest.mark.parametrize(
    ("state", "progress"),
    [
        (uploads.LAUNCH_REQUESTED, Progress.NOT_STARTED),
        (uploads.STARTED, Progress.IN_PROGRESS),
        (uploads.FINISHED, Progress.SUCCESS),
    ],
    ids=["run-granted", "running", "succeeded"],
)
def test_an_upload_whose_run_is_granted_running_or_succeeded_may_not_be_replaced(state, progress):
    assert not record(state, progress).may_be_replaced
