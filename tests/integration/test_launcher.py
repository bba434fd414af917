"""The launcher in-process, on the real broker and database, running real
pipeline processes: what a user sees of a run is its start, its output
lines and its finish with the exit code in words."""

import time

import pytest

from services.common.messages import LaunchRequested, PipelineFinished, UploadValidated
from services.common.scan_store import DirectoryScanStore
from services.launcher.__main__ import build_app
from tests.integration.helpers import eventually, leave_no_launch_over, new_upload_id, scan_facts, wait_until_processed
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app
from tests.support.tap import of_upload, output_lines


@pytest.fixture(scope="module", autouse=True)
async def launcher_queue_starts_empty(amqp_url, pool):
    await leave_no_launch_over(amqp_url, pool)


def stored_scan(incoming_path, upload_id: int, patient_name: str | None = None, attempt: int = 1, **facts):
    """Scan facts of an upload whose archive is in the scan store, as the gateway leaves it."""
    scan = scan_facts(upload_id, attempt=attempt, **facts)
    path = DirectoryScanStore(incoming_path).local_path(scan.scan_key)
    make_dicom_archive(path, patient_name if patient_name is not None else scan.patient_name, n_files=3)
    return scan, path


def granted(upload_id: int, attempt: int, scan) -> LaunchRequested:
    """The gateway's grant of a run, as it sends one automatically once an upload is validated."""
    return LaunchRequested(upload_id=upload_id, attempt=attempt, scan=scan, requested_by="auto-launch")


async def finished_of(tap, upload_id: int, timeout: float = 30) -> PipelineFinished:
    return await tap.wait_for(of_upload(upload_id, "pipeline.finished"), timeout)


async def test_a_granted_upload_runs_the_pipeline_streams_its_output_and_succeeds(launcher_settings, tap, pool, incoming_path):
    upload_id = new_upload_id()
    scan, path = stored_scan(incoming_path, upload_id)

    async with running_app(build_app(launcher_settings())):
        await tap.publish(granted(upload_id, 1, scan))
        finished = await finished_of(tap, upload_id)

        started = await tap.wait_for(of_upload(upload_id, "pipeline.started"))
        assert str(path) in started.command
        assert started.pid > 0 and started.launcher == finished.launcher and started.run_id == finished.run_id
        assert finished.outcome == "succeeded" and finished.stderr_tail == []
        assert f"--patient-name={scan.patient_name}" in started.command
        logs = output_lines(tap, upload_id)
        numbers = [line.line_number for line in logs]
        assert numbers == list(range(1, len(logs) + 1)), numbers
        assert all((batch.attempt, batch.run) == (1, 1)
                   for batch in tap.matching(of_upload(upload_id, "pipeline.log_lines")))
        assert (started.run, finished.run) == (1, 1)  # the attempt's first run
        messages = [line.message for line in logs if not line.is_verbose]
        assert f"Upload {upload_id}: checking {path.name}" in messages
        assert "Found 3 DICOM files" in messages
        assert any(line.is_verbose for line in logs)
        assert (finished.exit_code, finished.succeeded, finished.attempt) == (0, True, 1)
        assert finished.message == "Pipeline finished successfully: the scan was inserted."
        await eventually(lambda: _absent(path), what="the scan leaving the incoming path after success")
        run = await pool.fetchrow("SELECT state, exit_code, command FROM launcher.runs WHERE upload_id = $1", upload_id)
        assert (run["state"], run["exit_code"], run["command"]) == ("succeeded", 0, started.command)


async def _absent(path) -> bool:
    return not path.exists()


async def test_a_succeeded_scan_stays_in_the_incoming_path_when_the_setting_keeps_it(launcher_settings, tap, incoming_path):
    upload_id = new_upload_id()
    scan, path = stored_scan(incoming_path, upload_id)

    async with running_app(build_app(launcher_settings(keep_scan_after_success=True))):
        await tap.publish(granted(upload_id, 1, scan))
        finished = await finished_of(tap, upload_id)

    assert finished.succeeded
    assert path.exists()


async def test_a_patient_name_that_does_not_match_fails_with_exit_code_151_in_words_and_keeps_the_scan(
    launcher_settings, tap, incoming_path
):
    upload_id = new_upload_id()
    scan, path = stored_scan(incoming_path, upload_id, patient_name="MTL0001_300001_V9")

    async with running_app(build_app(launcher_settings())):
        await tap.publish(granted(upload_id, 1, scan))
        finished = await finished_of(tap, upload_id)

    assert (finished.exit_code, finished.succeeded) == (151, False)
    assert finished.message == (
        "Pipeline failed with exit code 151: the PatientName in the DICOM files does not match the file name."
    )
    errors = [line.message for line in output_lines(tap, upload_id) if line.is_error]
    assert errors, "the pipeline says why it failed"
    assert path.is_file(), "a failed upload's scan stays for another attempt"


async def test_a_validated_upload_waits_until_the_gateway_grants_its_run(
    launcher_settings, tap, pool, incoming_path
):
    waiting, sentinel = new_upload_id(), new_upload_id()
    scan, path = stored_scan(incoming_path, waiting)
    sentinel_scan, _ = stored_scan(incoming_path, sentinel)
    validated = UploadValidated(upload_id=waiting, attempt=1, scan=scan)

    async with running_app(build_app(launcher_settings())):
        await tap.publish(validated)
        await tap.publish(LaunchRequested(upload_id=sentinel, attempt=1, scan=sentinel_scan, requested_by="demo"))
        assert (await finished_of(tap, sentinel)).succeeded

        assert await pool.fetchval("SELECT count(*) FROM launcher.runs WHERE upload_id = $1", waiting) == 0
        assert [e.type for e in tap.matching(of_upload(waiting))] == ["upload.validated"], "nothing ran for it"

        await tap.publish(LaunchRequested(upload_id=waiting, attempt=1, scan=scan, requested_by="demo"))
        finished = await finished_of(tap, waiting)

    assert (finished.exit_code, finished.succeeded) == (0, True)
    assert len(tap.matching(of_upload(waiting, "pipeline.started"))) == 1


async def test_the_same_grant_delivered_twice_and_a_second_grant_run_the_pipeline_once(
    launcher_settings, tap, pool, incoming_path
):
    upload_id, sentinel = new_upload_id(), new_upload_id()
    scan, _ = stored_scan(incoming_path, upload_id)
    automatic = granted(upload_id, 1, scan)
    launch = LaunchRequested(upload_id=upload_id, attempt=1, scan=scan, requested_by="demo")

    async with running_app(build_app(launcher_settings())):
        await tap.publish(automatic)
        await tap.publish(automatic)
        await tap.publish(launch)
        await finished_of(tap, upload_id)
        await wait_until_processed(pool, "launcher", launch.event_id)
        sentinel_scan, _ = stored_scan(incoming_path, sentinel)
        await tap.publish(LaunchRequested(upload_id=sentinel, attempt=1, scan=sentinel_scan, requested_by="demo"))
        await finished_of(tap, sentinel)

    assert len(tap.matching(of_upload(upload_id, "pipeline.started"))) == 1
    assert len(tap.matching(of_upload(upload_id, "pipeline.finished"))) == 1
    assert await pool.fetchval("SELECT count(*) FROM launcher.runs WHERE upload_id = $1", upload_id) == 1


async def test_a_grant_of_an_older_attempt_does_not_run_after_a_newer_one(launcher_settings, tap, pool, incoming_path):
    upload_id = new_upload_id()
    newer, _ = stored_scan(incoming_path, upload_id, attempt=2)
    older, _ = stored_scan(incoming_path, upload_id, attempt=1)
    late = granted(upload_id, 1, older)

    async with running_app(build_app(launcher_settings())):
        await tap.publish(granted(upload_id, 2, newer))
        assert (await finished_of(tap, upload_id)).attempt == 2
        await tap.publish(late)
        await wait_until_processed(pool, "launcher", late.event_id)

    assert [e.attempt for e in tap.matching(of_upload(upload_id, "pipeline.started"))] == [2]
    assert await pool.fetchval("SELECT array_agg(attempt) FROM launcher.runs WHERE upload_id = $1", upload_id) == [2]


async def test_a_custom_pipeline_command_is_run_and_its_exit_code_reported(launcher_settings, tap, incoming_path):
    upload_id = new_upload_id()
    command = """{python} -c "import sys; print('[info] hello'); sys.exit(3)" """
    scan, _ = stored_scan(incoming_path, upload_id)

    async with running_app(build_app(launcher_settings(pipeline_command=command))):
        await tap.publish(granted(upload_id, 1, scan))
        finished = await finished_of(tap, upload_id)

    lines = output_lines(tap, upload_id)
    assert [(line.message, line.is_error, line.is_verbose) for line in lines] == [("hello", False, False)]
    assert (finished.exit_code, finished.succeeded) == (3, False)
    assert finished.message == "Pipeline failed with exit code 3: the pipeline was called without a required argument."


async def test_stderr_output_is_an_error_line_and_untagged_output_is_verbose(launcher_settings, tap):
    upload_id = new_upload_id()
    command = """{python} -c "import sys; print('plain detail', flush=True); print('it broke', file=sys.stderr)" """

    async with running_app(build_app(launcher_settings(pipeline_command=command))):
        await tap.publish(granted(upload_id, 1, scan_facts(upload_id)))
        finished = await finished_of(tap, upload_id)

    lines = {line.message: (line.is_error, line.is_verbose, line.stream) for line in output_lines(tap, upload_id)}
    assert lines == {"plain detail": (False, True, "stdout"), "it broke": (True, False, "stderr")}
    assert (finished.exit_code, finished.succeeded) == (0, True)
    assert finished.stderr_tail == ["it broke"]


async def test_a_pipeline_command_that_cannot_start_fails_the_run_with_the_reason(launcher_settings, tap):
    upload_id = new_upload_id()

    async with running_app(build_app(launcher_settings(pipeline_command="/nonexistent/pipeline {scan_path}"))):
        await tap.publish(granted(upload_id, 1, scan_facts(upload_id)))
        finished = await finished_of(tap, upload_id)

    assert (finished.exit_code, finished.succeeded, finished.outcome) == (None, False, "not started")
    assert finished.message.startswith("The pipeline command could not be started: ")
    assert not tap.matching(of_upload(upload_id, "pipeline.started")), "a run that never started is not announced as started"


async def test_stopping_the_launcher_interrupts_a_running_pipeline_and_says_the_launcher_shut_down(launcher_settings, tap, pool):
    upload_id = new_upload_id()
    command = """{python} -c "import time; print('[info] sleeping', flush=True); time.sleep(30)" """
    settings = launcher_settings(pipeline_command=command, shutdown_grace_seconds=0)

    async with running_app(build_app(settings)):
        await tap.publish(granted(upload_id, 1, scan_facts(upload_id)))
        await tap.wait_for(of_upload(upload_id, "pipeline.started"))
        first = await tap.wait_for(of_upload(upload_id, "pipeline.log_lines"))
        assert first.lines[0].message == "sleeping"
        stopping = time.monotonic()
    finished = await finished_of(tap, upload_id, timeout=5)

    assert time.monotonic() - stopping < 5
    assert (finished.exit_code, finished.succeeded, finished.outcome) == (None, False, "interrupted")
    assert "shut down during the run" in finished.message, finished.message
    assert finished.message.endswith("The pipeline is not declared safe to run again on its own: "
                                     "launch the upload again.")
    assert await pool.fetchval("SELECT state FROM launcher.runs WHERE upload_id = $1", upload_id) == "failed"
    unpublished = await pool.fetch(
        """SELECT routing_key FROM launcher.outbox WHERE published_at IS NULL
           AND convert_from(body, 'UTF8')::jsonb->>'upload_id' = $1 ORDER BY id""",
        str(upload_id),
    )
    assert [row["routing_key"] for row in unpublished] == [], "the stopped launcher left announcements unpublished"


async def test_the_last_twenty_lines_of_error_output_are_kept_with_the_finish(launcher_settings, tap):
    upload_id = new_upload_id()
    command = """{python} -c "import sys; [print('error', n, file=sys.stderr) for n in range(1, 31)]; sys.exit(82)" """

    async with running_app(build_app(launcher_settings(pipeline_command=command))):
        await tap.publish(granted(upload_id, 1, scan_facts(upload_id)))
        finished = await finished_of(tap, upload_id)

    assert finished.stderr_tail == [f"error {n}" for n in range(11, 31)]
    assert (finished.exit_code, finished.outcome) == (82, "failed")


async def test_report_lines_become_the_runs_reports_file_outcomes_and_log_lines_in_words(launcher_settings, tap, tmp_path):
    upload_id = new_upload_id()
    script = tmp_path / "reporting_pipeline.py"
    script.write_text(
        "import json\n"
        "def report(**fields): print('[report] ' + json.dumps(fields))\n"
        "report(type='step', name='Extracting', percent=10)\n"
        "report(type='step', name='Extracting', percent=30)\n"
        "report(type='tarchive', tarchive='DCM_2024-01-05_x', study_date='2024-01-05', md5='ab', files=1,\n"
        "       series=[{'number': '1', 'description': 'T1w', 'modality': 'MR', 'files': 1}])\n"
        "report(type='file', file='s/IM1.dcm', series='1', outcome='inserted', reason=None)\n"
        "report(type='counts', minc_created=1, minc_inserted=1)\n"
        "report(type='summary', message='1 series: 1 image kept.')\n"
        "print('[report] not json')\n"
    )

    async with running_app(build_app(launcher_settings(pipeline_command=f"{{python}} {script}"))):
        await tap.publish(granted(upload_id, 1, scan_facts(upload_id)))
        finished = await finished_of(tap, upload_id)

    # Delivery is at least once: an event may be seen twice, with one event id.
    reports = {event.event_id: event for event in tap.matching(of_upload(upload_id, "pipeline.reported"))}.values()
    merged = {name: value for event in reports for name, value in event.model_dump(exclude_none=True).items()}
    assert {event.run_id for event in reports} == {finished.run_id}
    assert (merged["step"], merged["percent"], merged["tarchive"], merged["minc_created"], merged["summary"]) == (
        "Extracting", 30, "DCM_2024-01-05_x", 1, "1 series: 1 image kept.")
    assert merged["tarchive_info"]["series"] == [{"number": "1", "description": "T1w", "modality": "MR", "files": 1}]
    [files] = {event.event_id: event for event in tap.matching(of_upload(upload_id, "pipeline.file_outcomes"))}.values()
    assert [(file.file, file.outcome) for file in files.files] == [("s/IM1.dcm", "inserted")]
    assert [(line.message, line.is_verbose) for line in output_lines(tap, upload_id)] == [
        ("Extracting (10%)", True),
        ("Extracting (30%)", True),
        ("DICOM archive DCM_2024-01-05_x: study of 2024-01-05, 1 series (1 file), md5 ab.", False),
        ("s/IM1.dcm (series 1): inserted", True),
        ("Image files: 1 created, 1 inserted.", False),
        ("Summary: 1 series: 1 image kept.", False),
        ("not json", True),
    ]
