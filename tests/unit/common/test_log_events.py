"""The live log's events (services.common.log_events)."""

import json

import pytest

from services.common.api_models import MAX_ID
from services.common.log_events import end_data, line_id_from, progress_data


@pytest.mark.parametrize(("value", "line_id"), [
    ("42", 42), ("0", 0), (str(MAX_ID), MAX_ID), (None, None), ("", None), ("-1", None), ("4.2", None),
    (" 42", None), ("abc", None), ("٤٢", None), (str(MAX_ID + 1), None), ("9" * 400, None),
])
def test_a_last_event_id_is_a_line_id_only_when_it_is_a_whole_number_of_63_bits(value, line_id):
    assert line_id_from(value) == line_id


def test_the_progress_and_end_events_carry_the_status_line_of_the_log_api():
    assert json.loads(progress_data(7, "In Progress", 2)) == {
        "upload_id": 7, "progress": "In Progress", "status": "The pipeline is running.", "attempt": 2}
    assert json.loads(end_data("Failure")) == {"progress": "Failure", "status": "Finished: the upload failed."}
