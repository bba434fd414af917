"""What a run reports becomes what Browse shows of the upload: its step and percentage while it runs, its DICOM
archive summary and image counts, its failure in one sentence, and its per-file report, served by the logstore
and downloadable through the gateway."""

import json

import aiohttp
import pytest

from services.common.internal_calls import internal_headers
from services.common.messages import (
    FileOutcome,
    LogEntry,
    PipelineLogLines,
    PipelineFileOutcomes,
    PipelineReported,
    RuleFailure,
    TarchiveInfo,
    TarchiveSeries,
    UploadRejected,
    encode_event,
)
from services.logstore.__main__ import build_app
from tests.conftest import INTERNAL_SECRET
from tests.integration.helpers import ALL_SITES, finished_event, new_upload_id, received_event, started_event
from tests.integration.test_logstore import Logstore
from tests.support.inprocess import running_app

INFO = TarchiveInfo(study_date="2024-01-05", md5="ab" * 16, files=5,
                    series=[TarchiveSeries(number="1", description="T1w", modality="MR", files=3),
                            TarchiveSeries(number="2", description="T2w", modality="MR", files=2)])


@pytest.fixture
async def logstore(logstore_settings, tap):
    headers = internal_headers(INTERNAL_SECRET, ALL_SITES)
    async with running_app(build_app(logstore_settings())) as url, \
            aiohttp.ClientSession(base_url=url, headers=headers) as http:
        yield Logstore(http, tap)


def reported(upload_id: int, run_id: int, attempt: int = 1, **fields) -> PipelineReported:
    return PipelineReported(upload_id=upload_id, attempt=attempt, run_id=run_id, **fields)


def outcomes(upload_id: int, run_id: int, *files: tuple[str, str], attempt: int = 1) -> PipelineFileOutcomes:
    return PipelineFileOutcomes(upload_id=upload_id, attempt=attempt, run_id=run_id,
                                files=[FileOutcome(file=file, series="1", outcome=outcome) for file, outcome in files])


async def report_lines(logstore: Logstore, upload_id: int) -> tuple[int, str, list]:
    async with logstore.http.get(f"/api/v1/uploads/{upload_id}/report") as answer:
        text = await answer.text()
        if answer.status != 200:
            return answer.status, answer.content_type, json.loads(text)
        return answer.status, answer.content_type, [json.loads(line) for line in text.splitlines()]


async def test_while_in_progress_the_upload_shows_the_latest_step_and_percentage(logstore, tap):
    upload_id = new_upload_id()
    started = started_event(upload_id)
    await tap.publish(received_event(upload_id))
    await tap.publish(started)
    await tap.publish(reported(upload_id, started.run_id, step="Extracting", percent=20))
    await tap.publish(reported(upload_id, started.run_id, step="Reading DICOM headers", percent=40))
    await logstore.settle()

    upload = await logstore.upload(upload_id)

    assert (upload["progress"], upload["percent"], upload["step"]) == ("In Progress", 40, "Reading DICOM headers")


async def test_after_success_the_upload_shows_its_dicom_archive_summary_counts_and_summary(logstore, tap):
    upload_id = new_upload_id()
    started = started_event(upload_id)
    for event in (received_event(upload_id), started,
                  reported(upload_id, started.run_id, tarchive="DCM_2024-01-05_MTL0001_300001_V1", tarchive_info=INFO),
                  reported(upload_id, started.run_id, minc_created=2, minc_inserted=2, step="Done", percent=100,
                           summary="2 series, 5 DICOM files: 2 NIfTI images created and kept."),
                  finished_event(upload_id)):
        await tap.publish(event)
    await logstore.settle()

    upload = await logstore.upload(upload_id)

    assert upload["progress"] == "Success" and upload["failure"] is None
    assert upload["tarchive"] == "DCM_2024-01-05_MTL0001_300001_V1"
    assert upload["tarchive_info"] == INFO.model_dump(mode="json")
    assert (upload["minc_created"], upload["minc_inserted"]) == (2, 2)
    assert upload["summary"] == "2 series, 5 DICOM files: 2 NIfTI images created and kept."
    _, browse = await logstore.get("/api/v1/uploads", candid=upload["candid"], page_size=500)
    [row] = [item for item in browse["items"] if item["upload_id"] == upload_id]
    assert row["tarchive_info"] == upload["tarchive_info"]


async def test_a_patient_name_in_a_dicom_archive_summary_of_an_older_launcher_is_not_kept(logstore, tap):
    upload_id = new_upload_id()
    started = started_event(upload_id)
    event = json.loads(encode_event(reported(upload_id, started.run_id, tarchive="DCM_2024-01-05_phantom",
                                            tarchive_info=INFO)))
    event["tarchive_info"]["patient_name"] = "TREMBLAY^JOSEPHINE"
    for published in (received_event(upload_id), started):
        await tap.publish(published)
    await tap.publish_raw(json.dumps(event).encode(), event["type"])
    await logstore.settle()

    upload = await logstore.upload(upload_id)

    assert upload["tarchive_info"] == INFO.model_dump(mode="json")
    _, browse = await logstore.get("/api/v1/uploads", candid=upload["candid"], page_size=500)
    [row] = [item for item in browse["items"] if item["upload_id"] == upload_id]
    assert "TREMBLAY" not in json.dumps(row)


async def test_a_failure_names_its_cause_and_a_relaunch_or_new_attempt_clears_it(logstore, tap):
    upload_id = new_upload_id()
    message = "Pipeline failed with exit code 62: the DICOM files are not valid for this candidate."
    started = started_event(upload_id)
    for event in (received_event(upload_id), started, reported(upload_id, started.run_id, step="Checking", percent=50),
                  finished_event(upload_id, exit_code=62, message=message)):
        await tap.publish(event)
    await logstore.settle()
    failed = await logstore.upload(upload_id)

    await tap.publish(received_event(upload_id, attempt=2))
    await logstore.settle()
    replaced = await logstore.upload(upload_id)

    assert (failed["progress"], failed["failure"], failed["exit_code"]) == ("Failure", message, 62)
    assert (replaced["progress"], replaced["failure"], replaced["percent"], replaced["step"]) == (
        "Not Started", None, None, None)


async def test_a_rejected_upload_names_the_rules_it_broke(logstore, tap):
    upload_id = new_upload_id()
    await tap.publish(received_event(upload_id))
    await tap.publish(UploadRejected(upload_id=upload_id, attempt=1, failures=[
        RuleFailure(field="visit_label", code="unknown_visit", message="The visit label V9 does not exist.")]))
    await logstore.settle()

    upload = await logstore.upload(upload_id)

    assert (upload["progress"], upload["failure"]) == ("Failure", "The visit label V9 does not exist.")


async def test_a_late_report_of_an_earlier_run_changes_nothing_of_the_new_run(logstore, tap):
    upload_id = new_upload_id()
    first_run, second_run = upload_id * 10 + 1, upload_id * 10 + 5
    await tap.publish(received_event(upload_id))
    await tap.publish(reported(upload_id, first_run, step="Extracting", percent=10, tarchive="DCM_old"))
    await tap.publish(started_event(upload_id).model_copy(update={"run_id": second_run}))
    await tap.publish(reported(upload_id, second_run, step="Converting", percent=70))
    await tap.publish(reported(upload_id, first_run, step="Extracting", percent=30, tarchive="DCM_late"))
    await logstore.settle()

    upload = await logstore.upload(upload_id)

    assert (upload["step"], upload["percent"], upload["tarchive"]) == ("Converting", 70, None)


async def test_the_report_is_the_latest_reporting_runs_files_in_the_order_reported(logstore, tap):
    upload_id = new_upload_id()
    first_run, second_run = upload_id * 10 + 1, upload_id * 10 + 2
    await tap.publish(received_event(upload_id))
    await tap.publish(outcomes(upload_id, first_run, ("a.dcm", "not processed")))
    await tap.publish(outcomes(upload_id, second_run, ("b.dcm", "inserted"), ("a.dcm", "inserted")))
    await tap.publish(outcomes(upload_id, second_run, ("notes.txt", "not DICOM")))
    await logstore.settle()

    status, content_type, lines = await report_lines(logstore, upload_id)

    assert (status, content_type) == (200, "application/x-ndjson")
    assert lines == [{"file": "b.dcm", "series": "1", "outcome": "inserted", "reason": None},
                     {"file": "a.dcm", "series": "1", "outcome": "inserted", "reason": None},
                     {"file": "notes.txt", "series": "1", "outcome": "not DICOM", "reason": None}]


async def test_a_report_longer_than_a_page_comes_whole(logstore, tap):
    upload_id = new_upload_id()
    run_id = upload_id * 10 + 1
    await tap.publish(received_event(upload_id))
    names = [f"IM{n:05d}.dcm" for n in range(2500)]
    for start in range(0, len(names), 1000):
        await tap.publish(outcomes(upload_id, run_id, *((name, "inserted") for name in names[start:start + 1000])))
    await logstore.settle()

    status, _, lines = await report_lines(logstore, upload_id)

    assert status == 200 and [line["file"] for line in lines] == names


async def test_an_upload_without_a_report_is_a_404_that_says_so_and_a_new_attempt_has_none_yet(logstore, tap):
    upload_id = new_upload_id()
    await tap.publish(received_event(upload_id))
    await tap.publish(outcomes(upload_id, upload_id * 10 + 1, ("a.dcm", "inserted")))
    await tap.publish(received_event(upload_id, attempt=2))
    await logstore.settle()

    status, _, body = await report_lines(logstore, upload_id)

    assert status == 404 and body["error"]["code"] == "no_report"
    assert body["error"]["message"] == (f"Upload {upload_id} has no per-file report: its pipeline has not reported "
                                        "any file for the current attempt (yet).")


async def test_each_pipeline_line_in_the_log_says_which_stream_it_came_from(logstore, tap):
    upload_id = new_upload_id()
    await tap.publish(received_event(upload_id))
    await tap.publish(PipelineLogLines(upload_id=upload_id, attempt=1, lines=[
        LogEntry(line_number=1, message="plain detail", is_verbose=True, stream="stdout"),
        LogEntry(line_number=2, message="it broke", is_error=True, stream="stderr")]))
    await logstore.settle()

    log = await logstore.log(upload_id, mode="detailed")

    assert [(line["origin"], line["message"], line["stream"], line["is_verbose"]) for line in log["lines"]] == [
        ("gateway", log["lines"][0]["message"], None, False),
        ("pipeline", "plain detail", "stdout", True),
        ("pipeline", "it broke", "stderr", False)]
