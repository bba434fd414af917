"""Which uploads a new attempt may replace (services.gateway.uploads.records.UploadRecord)."""

import pytest

from services.common.progress import Progress
from services.gateway.uploads import records


def record(state: str, progress: Progress) -> records.UploadRecord:
    return records.UploadRecord(upload_id=1, file_name="f.tgz", attempt=1, state=state, progress=progress)


@pytest.mark.parametrize(
    ("state", "progress"),
    [
        (records.RECEIVED, Progress.NOT_STARTED),
        (records.VALIDATED, Progress.NOT_STARTED),
        (records.REJECTED, Progress.FAILURE),
        (records.FINISHED, Progress.FAILURE),
    ],
)
def test_an_upload_with_no_run_granted_or_a_failed_run_may_be_replaced(state, progress):
    assert record(state, progress).may_be_replaced


@pytest.mark.parametrize(
    ("state", "progress"),
    [
        (records.LAUNCH_REQUESTED, Progress.NOT_STARTED),
        (records.STARTED, Progress.IN_PROGRESS),
        (records.FINISHED, Progress.SUCCESS),
    ],
    ids=["run-granted", "running", "succeeded"],
)
def test_an_upload_whose_run_is_granted_running_or_succeeded_may_not_be_replaced(state, progress):
    assert not record(state, progress).may_be_replaced
