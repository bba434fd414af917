"""The launcher in LORIS site mode, on the real MariaDB, PostgreSQL and RabbitMQ, as the uploader's granted
MariaDB user: the upload's mri_upload row (inserted here as the gateway would) is In Progress while the run goes,
read back at the end (a Success needs exit 0 and InsertionComplete = 1), left Inserting = 0 by any other end;
LORIS-MRI's notification_spool rows become the upload's log lines, in order and once; and the LORIS-MRI stand-in
behaves as imaging_upload_file.pl does toward the database."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from services.common.messages import LaunchRequested
from services.common.scan_store import DirectoryScanStore
from services.launcher.__main__ import build_app as build_launcher
from tests.integration.helpers import eventually, leave_no_launch_over, new_upload_id, received_event, scan_facts
from tests.integration.test_interrupted_runs import keep_exit_code
from tests.integration.test_logstore import logstore  # noqa: F401 (the logstore in-process, as a fixture)
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app
from tests.support.loris import MARIADB_HOST, MARIADB_PORT, connect_as_admin, uploader_user_of
from tests.conftest import INTERNAL_SECRET
from tests.support.processes import stop_process, wait_until_ready
from tests.support.stack import REPO_ROOT, free_port
from tests.support.tap import of_upload, output_lines
from tests.support.tcp_proxy import TcpProxy

STAND_IN = "{python} -m loris_standin.imaging_upload_file -profile prod -upload_id {loris_upload_id} {scan_path}"
SPOOLING = "{python} -m tests.support.spooling_pipeline --upload-id {loris_upload_id} --rows {rows} --delay 0.05"


@pytest.fixture(scope="module", autouse=True)
async def launcher_queue_starts_empty(amqp_url, pool):
    await leave_no_launch_over(amqp_url, pool)


@pytest.fixture(scope="module")
def loris_database(loris_database_url):
    return loris_database_url.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def granted_url(loris_database, tmp_path_factory):
    """The uploader's MariaDB user, granted exactly what docs/loris-site.md lists."""
    with uploader_user_of(loris_database, tmp_path_factory.mktemp("loris") / "password") as url:
        yield url.strip()


@pytest.fixture
def loris_launcher(launcher_settings, granted_url, loris_database_url, monkeypatch):
    """The launcher's settings in LORIS site mode; the pipeline gets LORIS_DATABASE_URL (LORIS-MRI's own user:
    here the administrator, who may also write tarchive)."""
    monkeypatch.setenv("LORIS_DATABASE_URL", loris_database_url)

    def make(command: str, **overrides):
        return launcher_settings(**{"loris_database_url": granted_url, "pipeline_command": command,
                                    "pipeline_environment": "LORIS_DATABASE_URL", **overrides})

    return make


@pytest.fixture
async def loris(loris_database):
    conn = await connect_as_admin(loris_database)
    yield conn
    conn.close()


async def fetch(conn, sql: str, *args) -> list[tuple]:
    async with conn.cursor() as cursor:
        await cursor.execute(sql, args)
        return list(await cursor.fetchall())


async def new_row(conn, location: str, patient_name: str) -> int:
    """The upload's row, as the gateway writes it (as LORIS's module does)."""
    async with conn.cursor() as cursor:
        await cursor.execute(
            """INSERT INTO mri_upload (UploadedBy, UploadDate, UploadLocation, PatientName, InsertionComplete,
                                       IsTarchiveValidated, IsPhantom) VALUES ('demo', NOW(), %s, %s, 0, 0, 'N')""",
            (location, patient_name))
        return cursor.lastrowid


async def flags(conn, loris_upload_id: int) -> tuple:
    (row,) = await fetch(conn, "SELECT Inserting, InsertionComplete FROM mri_upload WHERE UploadID = %s",
                         loris_upload_id)
    return row


def stored_scan(incoming_path, upload_id: int):
    scan = scan_facts(upload_id)
    path = DirectoryScanStore(incoming_path).local_path(scan.scan_key)
    make_dicom_archive(path, scan.patient_name, n_files=3)
    return scan, path


def granted(upload_id: int, scan, loris_upload_id: int | None) -> LaunchRequested:
    return LaunchRequested(upload_id=upload_id, attempt=1, scan=scan, requested_by="auto-launch",
                           loris_upload_id=loris_upload_id)


async def an_upload(tap, loris, incoming_path, location: str | None = None):
    """An upload received (for the logstore), its scan stored and its row in mri_upload."""
    upload_id = new_upload_id()
    scan, path = stored_scan(incoming_path, upload_id)
    await tap.publish(received_event(upload_id, scan=scan))
    loris_upload_id = await new_row(loris, location or str(path), scan.patient_name)
    return upload_id, scan, loris_upload_id


async def test_the_stand_in_inserts_the_scan_the_row_is_in_progress_meanwhile_and_read_back_at_the_end(
        loris_launcher, tap, loris, logstore, incoming_path, tmp_path):
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path)
    gate = tmp_path
    command = f"{{python}} -m tests.support.gate_then --gate {gate} --run-key {{upload_id}} -- {STAND_IN}"

    async with running_app(build_launcher(loris_launcher(command))):
        await tap.publish(granted(upload_id, scan, loris_upload_id))
        await eventually(lambda: _exists(gate / f"{upload_id}.at-gate"), what="the run waiting at its gate")
        assert await flags(loris, loris_upload_id) == (1, 0), "In Progress in LORIS while the run goes"
        (gate / "open").touch()
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 60)

    assert (finished.exit_code, finished.outcome) == (0, "succeeded"), finished.message
    record = finished.loris_record
    assert (record.inserting, record.insertion_complete) == (False, True)
    assert record.tarchive_id is not None and record.minc_created is not None
    assert await flags(loris, loris_upload_id) == (0, 1)
    (location,) = await fetch(loris, "SELECT DecompressedLocation FROM mri_upload WHERE UploadID = %s",
                              loris_upload_id)
    assert location[0].startswith("/") and "ImagingUpload-" in location[0]
    upload = await logstore.wait_for_progress(upload_id, "Success")
    assert upload["loris_record"] == record.model_dump(mode="json")
    assert upload["minc_created"] == record.minc_created
    summary = [line for line in (await logstore.log(upload_id))["lines"] if line["origin"] == "imaging_upload_file.py"]
    assert any("The insertion completed." == line["message"] for line in summary)
    assert not any(line["is_verbose"] for line in summary)
    detailed = (await logstore.log(upload_id, mode="detailed"))["lines"]
    assert any(line["is_verbose"] and line["origin"] == "imaging_upload_file.py" for line in detailed)


async def _exists(path) -> bool:
    return path.exists()


async def test_an_exit_0_without_insertion_complete_is_a_failure_and_leaves_inserting_0(
        loris_launcher, tap, loris, logstore, incoming_path):
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path)
    command = "{python} -c pass {loris_upload_id}"

    async with running_app(build_launcher(loris_launcher(command))):
        await tap.publish(granted(upload_id, scan, loris_upload_id))
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 30)

    assert (finished.exit_code, finished.outcome) == (0, "failed")
    assert "LORIS-MRI did not complete the insertion" in finished.message
    assert finished.loris_record.insertion_complete is False and finished.loris_record.inserting is False
    assert await flags(loris, loris_upload_id) == (0, 0)
    upload = await logstore.wait_for_progress(upload_id, "Failure")
    assert "LORIS-MRI did not complete the insertion" in upload["failure"]


async def test_a_pipeline_that_times_out_leaves_inserting_0(loris_launcher, tap, loris, incoming_path):
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path)
    command = "{python} -c 'import time; time.sleep(60)' {loris_upload_id}"

    async with running_app(build_launcher(loris_launcher(command, pipeline_timeout_minutes=0.05))):
        await tap.publish(granted(upload_id, scan, loris_upload_id))
        await eventually(lambda: _inserting(loris, loris_upload_id), what="Inserting = 1 once the run started")
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 30)

    assert finished.outcome == "timed out"
    assert await flags(loris, loris_upload_id) == (0, 0)
    assert finished.loris_record.inserting is False


async def _inserting(loris, loris_upload_id: int) -> bool:
    return (await flags(loris, loris_upload_id))[0] == 1


async def test_the_stand_in_exits_6_for_an_upload_id_whose_row_names_another_file(
        loris_launcher, tap, loris, incoming_path):
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path, location="/incoming/another.tgz")

    async with running_app(build_launcher(loris_launcher(STAND_IN))):
        await tap.publish(granted(upload_id, scan, loris_upload_id))
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 30)

    assert (finished.exit_code, finished.outcome) == (6, "failed")
    assert "the upload id does not match the scan archive" in finished.message
    assert await flags(loris, loris_upload_id) == (0, 0), "the launcher, not LORIS-MRI, leaves Inserting = 0"
    spooled = [line for line in output_lines(tap, upload_id) if line.origin == "imaging_upload_file.py"]
    assert len(spooled) == 1 and spooled[0].is_error and f"upload_id {loris_upload_id} does not" in spooled[0].message


async def test_spool_rows_become_log_lines_in_order_once_summary_or_detailed_and_inactive_rows_never(
        loris_launcher, tap, loris, logstore, incoming_path):
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path)
    async with loris.cursor() as cursor:  # an earlier upload of the same file: its rows made inactive, as LORIS does
        await cursor.execute(
            """INSERT INTO notification_spool (NotificationTypeID, ProcessID, TimeSpooled, Message, Error, Verbose,
                                               Origin, Active)
               SELECT NotificationTypeID, %s, NOW(), 'an earlier upload''s row', 'N', 'N', 'old', 'N'
               FROM notification_types WHERE Type = 'mri upload runner'""", (loris_upload_id,))
    rows = 20

    async with running_app(build_launcher(loris_launcher(SPOOLING.replace("{rows}", str(rows)) + " --complete"))):
        await tap.publish(granted(upload_id, scan, loris_upload_id))
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 30)

    assert finished.outcome == "succeeded", finished.message
    await logstore.wait_for_progress(upload_id, "Success")
    detailed = [line for line in (await logstore.log(upload_id, mode="detailed"))["lines"]
                if line["origin"] == "spooling_pipeline"]
    assert [line["message"] for line in detailed] == [f"spool row {n} of {rows}" for n in range(1, rows + 1)]
    assert all(line["is_verbose"] == (n % 2 == 0) and line["is_error"] == (n % 5 == 0)
               for n, line in enumerate(detailed, start=1))
    summary = [line["message"] for line in (await logstore.log(upload_id))["lines"]
               if line["origin"] == "spooling_pipeline"]
    assert summary == [f"spool row {n} of {rows}" for n in range(1, rows + 1, 2)]
    every_line = (await logstore.log(upload_id, mode="detailed", include_inactive=True))["lines"]
    assert not any("inactive row" in line["message"] or "earlier upload" in line["message"] for line in every_line)


async def test_spool_rows_show_while_the_run_goes(loris_launcher, tap, loris, incoming_path):
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path)
    command = SPOOLING.replace("{rows}", "1") + " --linger 30"

    async with running_app(build_launcher(loris_launcher(command, shutdown_grace_seconds=0))):
        await tap.publish(granted(upload_id, scan, loris_upload_id))
        await eventually(lambda: _spooled_line(tap, upload_id), timeout=5, what="the spooled row as a log line")
        assert not tap.matching(of_upload(upload_id, "pipeline.finished")), "seen while the run goes"


async def _spooled_line(tap, upload_id: int) -> bool:
    return any(line.message == "spool row 1 of 1" for line in output_lines(tap, upload_id))


async def test_a_command_that_needs_a_loris_upload_id_is_not_run_for_an_upload_without_one(
        loris_launcher, tap, incoming_path):
    upload_id = new_upload_id()
    scan, _ = stored_scan(incoming_path, upload_id)

    async with running_app(build_launcher(loris_launcher(STAND_IN))):
        await tap.publish(granted(upload_id, scan, None))
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 30)

    assert (finished.outcome, finished.exit_code) == ("not started", None)
    assert "needs the upload's LORIS UploadID" in finished.message
    assert not tap.matching(of_upload(upload_id, "pipeline.started"))


KILL_ROWS, KILL_DELAY = 40, 0.1
KILL_COMMAND = ("{python} -m tests.support.spooling_pipeline --upload-id {loris_upload_id} "
           f"--rows {KILL_ROWS} --delay {KILL_DELAY} --with-pid --complete")


def start_launcher(name: str, env: dict[str, str], log_dir) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen([sys.executable, "-m", "services.launcher"], cwd=REPO_ROOT, stdout=log,
                               stderr=subprocess.STDOUT,
                               env={**env, "UPLOADER_LAUNCHER_PORT": str(port), "UPLOADER_REPLICA": name})
    wait_until_ready(name, process, f"http://127.0.0.1:{port}/readyz", lambda: (log_dir / f"{name}.log").read_text())
    return process, port


@pytest.fixture
def launcher_env(database_url, amqp_url, incoming_path, output_path, granted_url, loris_database_url):
    return {
        **{name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ},
        "UPLOADER_DATABASE_URL": database_url, "UPLOADER_AMQP_URL": amqp_url,
        "UPLOADER_INCOMING_PATH": str(incoming_path), "UPLOADER_PIPELINE_OUTPUT_PATH": str(output_path),
        "UPLOADER_INTERNAL_SECRET": INTERNAL_SECRET, "UPLOADER_HEARTBEAT_SECONDS": "1",
        "UPLOADER_OUTBOX_POLL_SECONDS": "0.2", "UPLOADER_MAX_CONCURRENT_RUNS": "1",
        "UPLOADER_PIPELINE_RERUN_SAFE": "true", "UPLOADER_PIPELINE_COMMAND": KILL_COMMAND,
        "UPLOADER_LORIS_DATABASE_URL": granted_url, "UPLOADER_PIPELINE_ENVIRONMENT": "LORIS_DATABASE_URL",
        "LORIS_DATABASE_URL": loris_database_url,
    }


async def test_a_launcher_killed_while_spool_rows_are_written_every_active_row_is_one_log_line(
        launcher_env, tap, loris, logstore, pool, incoming_path, tmp_path):
    upload_id = new_upload_id()
    scan, path = stored_scan(incoming_path, upload_id)
    await tap.publish(received_event(upload_id, scan=scan))
    loris_upload_id = await new_row(loris, str(path), scan.patient_name)
    launchers = {}
    try:
        for name in ("one", "two"):
            launchers[name], _ = await asyncio.to_thread(start_launcher, name, launcher_env, tmp_path)
        await tap.publish(granted(upload_id, scan, loris_upload_id))
        owner = await eventually(lambda: _owner_after_rows(pool, loris, upload_id, loris_upload_id), timeout=30,
                                 what="the run writing its rows")
        victim = owner.split(":")[0]
        launchers[victim].send_signal(signal.SIGKILL)
        launchers[victim].wait()
        upload = await logstore.wait_for_progress(upload_id, "Success")
    finally:
        for process in launchers.values():
            if process.poll() is None:
                await asyncio.to_thread(stop_process, process, 15)

    assert upload["loris_record"]["insertion_complete"] is True
    active = [message for (message,) in await _rows(loris, loris_upload_id, "Y")]
    lines = [line["message"] for line in (await logstore.log(upload_id, mode="detailed", limit=10000))["lines"]
             if line["origin"] == "spooling_pipeline"]
    assert lines == active, f"log lines {lines}\nactive rows {active}\nlogs in {tmp_path}"
    assert len(set(lines)) == len(lines) > KILL_ROWS, "the killed run's rows and its rerun's, each once"
    assert not any("inactive row" in line for line in lines)
    assert await flags(loris, loris_upload_id) == (0, 1)


async def _owner_after_rows(pool, loris, upload_id: int, loris_upload_id: int) -> str | None:
    """The launcher of the upload's run once a few rows were written (and some turned into lines)."""
    run = await pool.fetchrow("SELECT owner, loris_spool_last FROM launcher.runs WHERE upload_id = $1 "
                              "AND state = 'running'", upload_id)
    if run is None or run["loris_spool_last"] == 0 or len(await _rows(loris, loris_upload_id, "Y")) < KILL_ROWS // 3:
        return None
    return run["owner"]


async def _rows(loris, loris_upload_id: int, active: str) -> list[tuple]:
    async with loris.cursor() as cursor:
        await cursor.execute("SELECT Message FROM notification_spool WHERE ProcessID = %s AND Active = %s "
                             "ORDER BY NotificationID", (loris_upload_id, active))
        return list(await cursor.fetchall())


async def test_a_run_kept_waiting_by_a_locked_mri_upload_past_its_staleness_is_started_once(
        loris_launcher, tap, loris, pool, incoming_path, loris_database):
    """LORIS's mri_upload locked by another session (a backup's LOCK TABLES) while a run waits to mark its row In
    Progress: a MariaDB that hangs is one that is away. The run is given up and queued again, and no launcher that
    waited starts the pipeline of a run that is no longer its own, once the lock is gone: one pipeline runs."""
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path)
    command = SPOOLING.replace("{rows}", "3") + " --complete"
    lock = await connect_as_admin(loris_database)
    try:
        async with lock.cursor() as cursor:
            await cursor.execute("LOCK TABLES mri_upload WRITE")
        async with running_app(build_launcher(loris_launcher(command, max_concurrent_runs=2,
                                                             pipeline_rerun_safe=True))):
            await tap.publish(granted(upload_id, scan, loris_upload_id))
            await eventually(lambda: _interrupted(pool, upload_id), what="the waiting run given up")
            async with lock.cursor() as cursor:
                await cursor.execute("UNLOCK TABLES")
            finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 30)
    finally:
        lock.close()

    assert finished.outcome == "succeeded", finished.message
    started = tap.matching(of_upload(upload_id, "pipeline.started"))
    assert [event.run_id for event in started] == [finished.run_id], "only the run that finished was started"
    assert await flags(loris, loris_upload_id) == (0, 1)


async def _interrupted(pool, upload_id: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM launcher.runs WHERE upload_id = $1 AND outcome = 'interrupted'",
                               upload_id) > 0


async def spool_row(conn, loris_upload_id: int, message: str) -> int:
    """A row of LORIS-MRI's log, as it writes one; its NotificationID."""
    async with conn.cursor() as cursor:
        await cursor.execute(
            """INSERT INTO notification_spool (NotificationTypeID, ProcessID, TimeSpooled, Message, Error, Verbose,
                                               Origin, Active)
               SELECT NotificationTypeID, %s, NOW(), %s, 'N', 'N', 'spooling_pipeline', 'Y'
               FROM notification_types WHERE Type = 'mri upload runner'""", (loris_upload_id, message))
        return cursor.lastrowid


async def test_the_reaper_recording_the_end_of_a_dead_launchers_run_reads_the_spool_rows_it_left(
        loris_launcher, tap, loris, pool, incoming_path):
    """A launcher died after its pipeline ended on its own, before it read the last rows the pipeline spooled: the
    reaper that records the end from the exit code the guard kept turns those rows into lines too, since no later
    run of the attempt will."""
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path)
    read = await spool_row(loris, loris_upload_id, "a row its launcher read")
    unread = [f"a row spooled as the pipeline ended ({n})" for n in (1, 2)]
    for message in unread:
        await spool_row(loris, loris_upload_id, message)
    async with loris.cursor() as cursor:
        await cursor.execute("UPDATE mri_upload SET InsertionComplete = 1, Inserting = 0 WHERE UploadID = %s",
                             (loris_upload_id,))
    run_id = await pool.fetchval(
        """INSERT INTO launcher.runs (upload_id, attempt, try, scan, state, owner, started_at, heartbeat_at,
                                      loris_upload_id, loris_spool_last)
           VALUES ($1, 1, 1, $2, 'running', 'a-launcher-that-died', now() - interval '1 hour',
                   now() - interval '1 hour', $3, $4) RETURNING run_id""",
        upload_id, scan.model_dump(), loris_upload_id, read)
    keep_exit_code(incoming_path, run_id, 0)

    async with running_app(build_launcher(loris_launcher(STAND_IN, heartbeat_seconds=0.5))):
        finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 15)

    assert (finished.run_id, finished.outcome) == (run_id, "succeeded"), finished.message
    assert [line.message for line in output_lines(tap, upload_id)] == unread


async def test_a_failed_runs_last_log_rows_read_while_mariadb_is_away_are_waited_for_not_lost(
        loris_launcher, granted_url, tap, loris, pool, incoming_path, tmp_path):
    """MariaDB cannot be reached as a failing pipeline ends: the run's end waits for LORIS-MRI's last rows (they
    usually say why it failed) and is recorded with them once MariaDB is back, not without them."""
    upload_id, scan, loris_upload_id = await an_upload(tap, loris, incoming_path)
    gate = tmp_path / "gate"
    command = SPOOLING.replace("{rows}", "2") + f" --gate {gate} --last-rows 2 --exit-code 3"
    async with TcpProxy(MARIADB_HOST, MARIADB_PORT) as proxy:
        settings = loris_launcher(command, heartbeat_seconds=0.5, loris_database_url=proxy.through(granted_url))
        async with running_app(build_launcher(settings)):
            await tap.publish(granted(upload_id, scan, loris_upload_id))
            await eventually(lambda: _lines_shown(tap, upload_id, 2), what="the first rows as lines")
            await proxy.cut()
            gate.touch()  # the pipeline spools its last rows (straight to MariaDB) and exits 3
            await eventually(lambda: _ended_while_away(tap, pool, upload_id), what="the end, MariaDB away")
            await proxy.restore()
            finished = await tap.wait_for(of_upload(upload_id, "pipeline.finished"), 30)

    assert (finished.outcome, finished.exit_code) == ("failed", 3), finished.message
    assert [line.message for line in output_lines(tap, upload_id)] == [
        "spool row 1 of 2", "spool row 2 of 2", "last row 1", "last row 2"]
    assert await flags(loris, loris_upload_id) == (0, 0)


async def _lines_shown(tap, upload_id: int, count: int) -> bool:
    return len(output_lines(tap, upload_id)) >= count


async def _ended_while_away(tap, pool, upload_id: int) -> bool:
    """The run's end was recorded (without its last rows), or its launcher left it to the reaper: it went stale
    after its pipeline exited."""
    if tap.matching(of_upload(upload_id, "pipeline.finished")):
        return True
    return bool(await pool.fetchval(
        """SELECT true FROM launcher.runs WHERE upload_id = $1 AND state = 'running'
           AND heartbeat_at < now() - interval '2 seconds'""", upload_id))
