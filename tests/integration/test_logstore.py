"""The logstore in-process, on the real broker and database: the events of
an upload become its progress and the log a user reads, whatever the order
or the number of times they arrive."""

import random

import aiohttp
import pytest

from services.common.internal_calls import SECRET_HEADER, internal_headers
from services.common.messages import (
    LogEntry,
    PipelineFinished,
    PipelineLogLine,
    PipelineLogLines,
    PipelineReported,
    PipelineRerunQueued,
    PipelineStarted,
    RunOutcome,
    RuleFailure,
    UploadReceived,
    UploadRejected,
    UploadValidated,
    UserScope,
)
from services.logstore.__main__ import build_app
from tests.conftest import INTERNAL_SECRET
from tests.integration.helpers import (
    ALL_SITES,
    eventually,
    finished_event,
    new_upload_id,
    received_event,
    scan_facts,
    started_event,
)
from tests.support.inprocess import running_app

SIZE_BYTES = 2 * 1024**2
FINISHED_MESSAGE = "Pipeline finished successfully: the scan was inserted."


@pytest.fixture
async def logstore(logstore_settings, tap):
    headers = internal_headers(INTERNAL_SECRET, ALL_SITES)
    async with running_app(build_app(logstore_settings())) as url, aiohttp.ClientSession(base_url=url, headers=headers) as http:
        yield Logstore(http, tap)


class Logstore:
    def __init__(self, http: aiohttp.ClientSession, tap) -> None:
        self.http = http
        self.tap = tap

    async def get(self, path: str, **params) -> tuple[int, dict]:
        params = {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in params.items()}
        async with self.http.get(path, params=params) as answer:
            assert answer.content_type == "application/json"
            return answer.status, await answer.json()

    async def upload(self, upload_id: int) -> dict:
        status, body = await self.get(f"/api/v1/uploads/{upload_id}")
        assert status == 200, body
        return body

    async def log(self, upload_id: int, **params) -> dict:
        status, body = await self.get(f"/api/v1/uploads/{upload_id}/log", **params)
        assert status == 200, body
        return body

    async def wait_for_progress(self, upload_id: int, progress: str, attempt: int = 1) -> dict:
        async def reached():
            status, body = await self.get(f"/api/v1/uploads/{upload_id}")
            return body if status == 200 and (body["progress"], body["attempt"]) == (progress, attempt) else None

        return await eventually(reached, what=f"upload {upload_id} reaching {progress} (attempt {attempt})")

    async def settle(self) -> None:
        """Wait until every event published so far is recorded: the logstore's queue is
        handled in order, so once a fresh upload appears, every earlier event was recorded."""
        sentinel = new_upload_id()
        await self.tap.publish(received(sentinel))
        await self.wait_for_progress(sentinel, "Not Started")


def received(upload_id: int, attempt: int = 1, scan_site: str | None = None, **facts) -> UploadReceived:
    event = received_event(upload_id, attempt, size_bytes=SIZE_BYTES, **facts)
    return event.model_copy(update={"scan": event.scan.model_copy(update={"site": scan_site})})


def successful_run(upload_id: int) -> list:
    """The events of one attempt that succeeds, in the order the services announce them."""
    first = received(upload_id)
    ids = {"upload_id": upload_id, "attempt": 1}
    return [
        first,
        UploadValidated(**ids, scan=first.scan),
        started_event(upload_id, command=["pipeline", "--upload-id", str(upload_id), "scan.tgz"]),
        PipelineLogLine(**ids, line_number=1, message="Extracted 3 files from scan.tgz"),
        PipelineLogLine(**ids, line_number=2, message="study/series1/IM0001.dcm: series 1", is_verbose=True),
        PipelineLogLine(**ids, line_number=3, message="Found 3 DICOM files"),
        PipelineLogLine(**ids, line_number=4, message="Removed work directory /tmp/x", is_verbose=True),
        finished_event(upload_id, message=FINISHED_MESSAGE),
    ]


async def publish_all(tap, events) -> None:
    for event in events:
        await tap.publish(event)


def messages(log: dict) -> list[str]:
    return [line["message"] for line in log["lines"]]


async def test_a_successful_run_shows_success_and_a_summary_log_without_the_verbose_lines(logstore, tap):
    upload_id = new_upload_id()
    events = successful_run(upload_id)
    await publish_all(tap, events)

    upload = await logstore.wait_for_progress(upload_id, "Success")
    summary = await logstore.log(upload_id)

    scan = events[0].scan
    assert (upload["file_name"], upload["candid"], upload["pscid"], upload["visit_label"]) == (
        scan.file_name, "300001", "MTL0001", "V1")
    assert (upload["is_phantom"], upload["uploaded_by"], upload["size_bytes"]) == (False, "demo", SIZE_BYTES)
    assert (upload["attempt"], upload["exit_code"]) == (1, 0)
    assert summary["progress"] == "Success"
    assert summary["status"] == "Finished: the upload succeeded."
    assert summary["mode"] == "summary"
    assert messages(summary) == [
        f"Upload received: {scan.file_name} (2.0 MiB) from demo.",
        "Candidate checked: CandID 300001, PSCID MTL0001, visit V1 are valid and active.",
        "Pipeline started.",
        "Extracted 3 files from scan.tgz",
        "Found 3 DICOM files",
        FINISHED_MESSAGE,
    ]
    assert [line["origin"] for line in summary["lines"]] == [
        "gateway", "validator", "launcher", "pipeline", "pipeline", "launcher"]
    assert all(line["active"] and line["attempt"] == 1 and not line["is_verbose"] for line in summary["lines"])
    assert summary["last_line_id"] == summary["lines"][-1]["line_id"]


async def test_the_detailed_log_adds_the_verbose_lines_in_order_and_after_returns_only_newer_lines(logstore, tap):
    upload_id = new_upload_id()
    await publish_all(tap, successful_run(upload_id))
    await logstore.wait_for_progress(upload_id, "Success")

    summary = await logstore.log(upload_id)
    detailed = await logstore.log(upload_id, mode="detailed")
    cursor = summary["lines"][2]["line_id"]
    later = await logstore.log(upload_id, mode="detailed", after=cursor)
    nothing_new = await logstore.log(upload_id, mode="detailed", after=detailed["last_line_id"])

    assert messages(detailed) == [
        messages(summary)[0],
        messages(summary)[1],
        "Pipeline started.",
        "Command (pid 4242 on test-launcher): pipeline --upload-id {} scan.tgz".format(upload_id),
        "Extracted 3 files from scan.tgz",
        "study/series1/IM0001.dcm: series 1",
        "Found 3 DICOM files",
        "Removed work directory /tmp/x",
        FINISHED_MESSAGE,
    ]
    ids = [line["line_id"] for line in detailed["lines"]]
    assert ids == sorted(ids)
    assert [line["line_id"] for line in later["lines"]] == [i for i in ids if i > cursor]
    assert later["last_line_id"] == ids[-1]
    assert nothing_new["lines"] == [] and nothing_new["last_line_id"] == ids[-1]


async def test_a_rejected_upload_shows_failure_with_every_reason_as_an_error_line(logstore, tap):
    upload_id = new_upload_id()
    await tap.publish(received(upload_id, candid="300002", pscid="MTL0002"))
    await tap.publish(UploadRejected(upload_id=upload_id, attempt=1, failures=[
        RuleFailure(field="candid", code="candidate_active", message="Candidate 300002 (PSCID MTL0002) is not active."),
    ]))

    await logstore.wait_for_progress(upload_id, "Failure")
    log = await logstore.log(upload_id)

    assert log["status"] == "Finished: the upload failed."
    assert [(line["message"], line["is_error"]) for line in log["lines"][1:]] == [
        ("Candidate 300002 (PSCID MTL0002) is not active.", True),
        ("The upload was rejected: correct the values above and upload it again.", True),
    ]


async def test_the_status_line_follows_the_progress(logstore, tap):
    upload_id = new_upload_id()
    first = received(upload_id)
    await tap.publish(first)
    await logstore.wait_for_progress(upload_id, "Not Started")
    assert (await logstore.log(upload_id))["status"] == "The pipeline has not run yet."

    await tap.publish(started_event(upload_id))
    await logstore.wait_for_progress(upload_id, "In Progress")
    assert (await logstore.log(upload_id))["status"] == "The pipeline is running."


async def test_the_same_events_delivered_again_change_nothing(logstore, tap):
    upload_id = new_upload_id()
    events = successful_run(upload_id)
    await publish_all(tap, events)
    await logstore.wait_for_progress(upload_id, "Success")
    before_upload = await logstore.upload(upload_id)
    before_log = await logstore.log(upload_id, mode="detailed", include_inactive=True)

    await publish_all(tap, events)
    await logstore.settle()

    assert await logstore.upload(upload_id) == before_upload
    assert await logstore.log(upload_id, mode="detailed", include_inactive=True) == before_log


async def test_an_older_event_arriving_late_never_moves_progress_backwards(logstore, tap):
    upload_id = new_upload_id()
    events = successful_run(upload_id)
    await publish_all(tap, events)
    await logstore.wait_for_progress(upload_id, "Success")

    await tap.publish(started_event(upload_id))
    await tap.publish(UploadValidated(upload_id=upload_id, attempt=1, scan=events[0].scan))
    await tap.publish(UploadReceived(**{**events[0].model_dump(exclude={"event_id"})}))
    await logstore.settle()

    upload = await logstore.upload(upload_id)
    assert (upload["progress"], upload["exit_code"], upload["attempt"]) == ("Success", 0, 1)
    assert (await logstore.log(upload_id))["status"] == "Finished: the upload succeeded."


async def test_events_arriving_out_of_order_end_at_the_furthest_progress(logstore, tap):
    upload_id = new_upload_id()
    events = successful_run(upload_id)
    finished, started = events[-1], events[2]

    await publish_all(tap, [finished, *events[3:-1], started, events[1], events[0]])
    await logstore.settle()

    upload = await logstore.upload(upload_id)
    assert (upload["progress"], upload["exit_code"]) == ("Success", 0)
    assert upload["file_name"] == events[0].scan.file_name, "the facts of the upload arrive with its received event"


async def test_a_new_attempt_starts_over_and_hides_the_earlier_attempts_lines_unless_asked(logstore, tap):
    upload_id = new_upload_id()
    events = successful_run(upload_id)
    await publish_all(tap, events[:-1])
    await tap.publish(finished_event(upload_id, exit_code=151,
                                     message="Pipeline failed with exit code 151: the PatientName differs."))
    await logstore.wait_for_progress(upload_id, "Failure")
    attempt_one = await logstore.log(upload_id, mode="detailed")

    second = received_event(upload_id, 2, scan=scan_facts(upload_id, attempt=2, file_name=events[0].scan.file_name),
                            size_bytes=SIZE_BYTES)
    await tap.publish(second)
    upload = await logstore.wait_for_progress(upload_id, "Not Started", attempt=2)
    current = await logstore.log(upload_id, mode="detailed")
    everything = await logstore.log(upload_id, mode="detailed", include_inactive=True)

    assert upload["exit_code"] is None
    assert current["status"] == "The pipeline has not run yet."
    assert messages(current) == [f"Upload received: {second.scan.file_name} (2.0 MiB) from demo; it replaces attempt 1."]
    assert current["lines"][0]["active"] and current["lines"][0]["attempt"] == 2
    old = [line for line in everything["lines"] if line["attempt"] == 1]
    assert [line["line_id"] for line in old] == [line["line_id"] for line in attempt_one["lines"]]
    assert not any(line["active"] for line in old)
    assert [line for line in everything["lines"] if line["attempt"] == 2] == current["lines"]


async def test_an_event_of_an_earlier_attempt_arriving_after_a_new_one_changes_no_progress(logstore, tap):
    upload_id = new_upload_id()
    await tap.publish(received(upload_id, attempt=2))
    await logstore.wait_for_progress(upload_id, "Not Started", attempt=2)

    await tap.publish(finished_event(upload_id, message=FINISHED_MESSAGE))
    await logstore.settle()

    upload = await logstore.upload(upload_id)
    assert (upload["progress"], upload["attempt"], upload["exit_code"]) == ("Not Started", 2, None)
    assert FINISHED_MESSAGE not in messages(await logstore.log(upload_id))


async def test_the_facts_of_an_earlier_attempt_arriving_late_do_not_replace_the_current_ones(logstore, tap):
    upload_id = new_upload_id()
    await tap.publish(received(upload_id, attempt=2, visit_label="V2"))
    await logstore.wait_for_progress(upload_id, "Not Started", attempt=2)

    await tap.publish(received(upload_id, attempt=1, visit_label="V1"))
    await logstore.settle()

    upload = await logstore.upload(upload_id)
    assert (upload["visit_label"], upload["attempt"]) == ("V2", 2)


async def test_an_unknown_upload_is_a_404_with_a_json_error(logstore):
    upload_id = new_upload_id()

    for path in (f"/api/v1/uploads/{upload_id}", f"/api/v1/uploads/{upload_id}/log"):
        status, body = await logstore.get(path)
        assert status == 404
        error = {"code": "unknown_upload", "message": f"There is no upload with id {upload_id}.", "field": "upload_id"}
        assert body == {"error": error, "errors": [error]}


async def test_bad_query_values_are_a_400_naming_the_field(logstore):
    upload_id = new_upload_id()
    cases = [
        ("/api/v1/uploads", {"progress": "Bogus"}, "progress"),
        ("/api/v1/uploads", {"page": "0"}, "page"),
        ("/api/v1/uploads", {"page_size": "501"}, "page_size"),
        ("/api/v1/uploads", {"colour": "blue"}, "colour"),
        (f"/api/v1/uploads/{upload_id}/log", {"mode": "everything"}, "mode"),
        (f"/api/v1/uploads/{upload_id}/log", {"after": "-1"}, "after"),
        ("/api/v1/uploads/abc", {}, "upload_id"),
    ]
    for path, params, field in cases:
        status, body = await logstore.get(path, **params)
        assert status == 400, (path, params, body)
        assert body["error"]["field"] == field, (path, params, body)
        assert field in body["error"]["message"] or "upload id" in body["error"]["message"].lower(), body


async def test_the_upload_list_filters_pages_and_counts_the_total(logstore, tap):
    candid = str(random.randint(500000, 999999))
    pscid, other_pscid = f"T{candid}", f"U{candid}"
    ids = [new_upload_id() for _ in range(4)]
    await tap.publish(received(ids[0], candid=candid, pscid=pscid, visit_label="V1"))
    await tap.publish(received(ids[1], candid=candid, pscid=pscid, visit_label="V2"))
    await tap.publish(received(ids[2], candid=candid, pscid=other_pscid, visit_label="V1"))
    await tap.publish(received(ids[3], candid=candid, pscid=pscid, visit_label="V1"))
    await tap.publish(finished_event(ids[3], message=FINISHED_MESSAGE))
    await logstore.wait_for_progress(ids[3], "Success")

    _, everything = await logstore.get("/api/v1/uploads", candid=candid)
    _, first = await logstore.get("/api/v1/uploads", candid=candid, page_size=3)
    _, second = await logstore.get("/api/v1/uploads", candid=candid, page_size=3, page=2)
    _, beyond = await logstore.get("/api/v1/uploads", candid=candid, page_size=3, page=3)
    _, by_pscid_and_visit = await logstore.get("/api/v1/uploads", pscid=pscid, visit_label="V1")
    _, succeeded = await logstore.get("/api/v1/uploads", candid=candid, progress="Success")
    _, not_started = await logstore.get("/api/v1/uploads", candid=candid, progress="Not Started")

    _, oldest_first = await logstore.get("/api/v1/uploads", candid=candid, sort="uploaded_at")

    newest_first = list(reversed(ids))
    assert [item["upload_id"] for item in oldest_first["items"]] == ids
    assert everything["total"] == 4 and [item["upload_id"] for item in everything["items"]] == newest_first
    assert (first["total"], first["page"], first["page_size"]) == (4, 1, 3)
    assert [item["upload_id"] for item in first["items"]] == newest_first[:3]
    assert (second["total"], second["page"]) == (4, 2)
    assert [item["upload_id"] for item in second["items"]] == newest_first[3:]
    assert beyond["total"] == 4 and beyond["items"] == []
    assert by_pscid_and_visit["total"] == 2
    assert {item["upload_id"] for item in by_pscid_and_visit["items"]} == {ids[0], ids[3]}
    assert succeeded["total"] == 1 and succeeded["items"][0]["upload_id"] == ids[3]
    assert succeeded["items"][0]["exit_code"] == 0
    assert not_started["total"] == 3
    assert all(item["candid"] == candid for item in everything["items"])


# --- only for the gateway, and only what the user may see ------------------------------------------


async def test_a_call_without_the_gateway_s_secret_is_refused_with_403(logstore_settings):
    async with running_app(build_app(logstore_settings())) as url, aiohttp.ClientSession(base_url=url) as http:
        for headers in ({}, {SECRET_HEADER: "not-the-secret-at-all"}):
            async with http.get("/api/v1/uploads", headers=headers) as answer:
                assert answer.status == 403
                assert (await answer.json())["error"]["code"] == "gateway_only"
        for health in ("/healthz", "/readyz"):
            async with http.get(health) as answer:
                assert answer.status == 200


async def test_the_logstore_does_not_start_without_a_secret(logstore_settings):
    with pytest.raises(SystemExit, match="UPLOADER_INTERNAL_SECRET"):
        build_app(logstore_settings(internal_secret=None))


async def scoped_get(logstore, scope: UserScope, path: str, **params) -> tuple[int, dict]:
    async with logstore.http.get(path, params=params, headers=internal_headers(INTERNAL_SECRET, scope)) as answer:
        return answer.status, await answer.json()


async def test_an_own_sites_user_sees_only_their_site_s_uploads_and_their_own(logstore, tap):
    candid = str(random.randint(500000, 999999))
    montreal, ottawa, phantom, mine = (new_upload_id() for _ in range(4))
    await tap.publish(received(montreal, candid=candid, scan_site="MTL"))
    await tap.publish(received(ottawa, candid=candid, scan_site="OTT"))
    await tap.publish(received(phantom, is_phantom=True))
    await tap.publish(received_event(mine, candid=candid, scope=UserScope(username="mo", own_sites=("MTL",))))
    await logstore.settle()
    mo = UserScope(username="mo", own_sites=("MTL",))
    pat = UserScope(username="pat", no_session=True)

    _, seen_by_mo = await scoped_get(logstore, mo, "/api/v1/uploads", candid=candid)
    _, seen_by_pat = await scoped_get(logstore, pat, "/api/v1/uploads", is_phantom="true")

    assert {item["upload_id"] for item in seen_by_mo["items"]} == {montreal, mine}
    assert seen_by_mo["total"] == 2
    assert phantom in {item["upload_id"] for item in seen_by_pat["items"]}
    assert all(item["is_phantom"] for item in seen_by_pat["items"])
    for path in (f"/api/v1/uploads/{ottawa}", f"/api/v1/uploads/{ottawa}/log", f"/api/v1/uploads/{ottawa}/runs"):
        status, body = await scoped_get(logstore, mo, path)
        assert status == 404 and body["error"]["code"] == "unknown_upload", path


async def test_browse_filters_on_site_and_phantom_flag(logstore, tap):
    candid = str(random.randint(500000, 999999))
    montreal, ottawa = new_upload_id(), new_upload_id()
    await tap.publish(received(montreal, candid=candid, scan_site="MTL"))
    await tap.publish(received(ottawa, candid=candid, scan_site="OTT"))
    await logstore.settle()

    _, at_ottawa = await logstore.get("/api/v1/uploads", candid=candid, site="OTT")
    _, phantoms = await logstore.get("/api/v1/uploads", candid=candid, is_phantom=True)

    assert [item["upload_id"] for item in at_ottawa["items"]] == [ottawa]
    assert at_ottawa["items"][0]["site"] == "OTT"
    assert phantoms["total"] == 0


async def test_an_upload_shows_what_browse_shows_in_loris(logstore, tap, incoming_path):
    upload_id = new_upload_id()
    first = received(upload_id, scan_site="MTL")
    await tap.publish(first)
    await tap.publish(PipelineReported(upload_id=upload_id, attempt=1, tarchive="DCM_x.tar", minc_created=4,
                                       minc_inserted=3))
    await logstore.settle()

    upload = await logstore.upload(upload_id)

    assert upload["site"] == "MTL" and upload["is_phantom"] is False
    assert upload["upload_location"] == str(incoming_path.resolve() / first.scan.scan_key)
    assert (upload["tarchive"], upload["minc_created"], upload["minc_inserted"]) == ("DCM_x.tar", 4, 3)
    assert upload["uploaded_by"] == "demo" and upload["size_bytes"] == SIZE_BYTES


async def test_the_counts_are_null_until_the_pipeline_reports_them(logstore, tap):
    upload_id = new_upload_id()
    await tap.publish(received(upload_id))
    await logstore.settle()

    upload = await logstore.upload(upload_id)

    assert (upload["tarchive"], upload["minc_created"], upload["minc_inserted"]) == (None, None, None)


async def test_each_run_is_recorded_from_its_start_and_finish_whatever_their_order(logstore, tap):
    upload_id = new_upload_id()
    await tap.publish(received(upload_id))
    finished = finished_event(upload_id, exit_code=151, message="failed")
    finished = finished.model_copy(update={"stderr_tail": ["Traceback", "boom"]})
    await tap.publish(finished)
    await tap.publish(started_event(upload_id, command=["pipeline", "scan.tgz"]))
    await logstore.settle()

    status, body = await logstore.get(f"/api/v1/uploads/{upload_id}/runs")

    assert status == 200
    [run] = body["runs"]
    assert run["run_id"] == finished.run_id and run["attempt"] == 1
    assert run["command"] == ["pipeline", "scan.tgz"] and run["pid"] == 4242 and run["launcher"] == "test-launcher"
    assert (run["exit_code"], run["outcome"], run["stderr_tail"]) == (151, "failed", ["Traceback", "boom"])
    assert run["started_at"] is not None and run["ended_at"] is not None


async def test_each_line_and_run_record_says_which_run_of_its_attempt_it_is(logstore, tap):
    upload_id = new_upload_id()
    first = received(upload_id)
    ids = {"upload_id": upload_id, "attempt": 1}
    interrupted, rerun = upload_id * 10 + 1, upload_id * 10 + 2
    requeued = "The launcher a stopped responding. The pipeline is safe to run again: it is queued once more."
    await publish_all(tap, [
        first,
        UploadValidated(**ids, scan=first.scan),
        PipelineStarted(**ids, run_id=interrupted, run=1, command=["pipeline"], launcher="a", pid=1),
        PipelineLogLines(**ids, run=1, lines=[LogEntry(line_number=1, message="Extracted 3 files")]),
        PipelineRerunQueued(**ids, run_id=interrupted, run=1, next_run_id=rerun, launcher="a", message=requeued),
        PipelineStarted(**ids, run_id=rerun, run=2, command=["pipeline"], launcher="b", pid=2),
        PipelineLogLines(**ids, run=2, lines=[LogEntry(line_number=1, message="Extracted 3 files")]),
        PipelineLogLine(**ids, line_number=2, message="A line from an older launcher"),
        PipelineFinished(**ids, run_id=rerun, run=2, exit_code=0, outcome=RunOutcome.SUCCEEDED,
                         message=FINISHED_MESSAGE, launcher="b"),
    ])
    await logstore.wait_for_progress(upload_id, "Success")

    log = await logstore.log(upload_id)

    assert [(line["run"], line["message"]) for line in log["lines"]] == [
        (None, f"Upload received: {first.scan.file_name} (2.0 MiB) from demo."),
        (None, "Candidate checked: CandID 300001, PSCID MTL0001, visit V1 are valid and active."),
        (1, "Pipeline started."),
        (1, "Extracted 3 files"),
        (1, requeued),
        (2, "Pipeline started."),
        (2, "Extracted 3 files"),
        (None, "A line from an older launcher"),
        (2, FINISHED_MESSAGE),
    ]
    _, runs = await logstore.get(f"/api/v1/uploads/{upload_id}/runs")
    assert [(run["run_id"], run["run"], run["outcome"]) for run in runs["runs"]] == [
        (interrupted, 1, "interrupted"), (rerun, 2, "succeeded")]
