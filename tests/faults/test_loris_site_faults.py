"""LORIS site mode under faults, the services as processes, on a LORIS database of the module's own: the gateway
SIGKILLed around its writes of mri_upload rows, a MariaDB restart while uploads flow, and a launcher SIGKILLed while
its runs write LORIS-MRI's log into notification_spool, beside a second launcher.

The pipeline prints numbered lines (tests/support/numbered_pipeline.py), then writes numbered notification_spool
rows and completes the insertion as LORIS-MRI does (tests/support/spooling_pipeline.py). Beside what
fault_accounting checks (every accepted upload ends in Success, no run of an attempt overlaps another, no log line
twice or missing), each test checks LORIS's own tables as the site sees them (tests/support/loris_accounting.py):
one mri_upload row per upload, its UploadID shown in the upload's answer and in Browse, no orphan row, and every
active notification_spool row one line of the upload's log, in NotificationID order."""

import asyncio
import contextlib
import time
import uuid

import pytest

from services.common.db import open_pool
from tests.faults.conftest import (NUMBERED_PIPELINE, all_accepted, database_and_vhost, demo_client, fault_env,
                                   until_a_run_is_running)
from tests.support.fault_accounting import UploadStream, account
from tests.support.fault_stack import FaultStack
from tests.support.loris import (connect_as_admin, create_demo_loris_database, drop_loris_database, loris_url,
                                 uploader_user_of)
from tests.support.loris_accounting import check_loris_tables
from tests.support.private_servers import PrivateMariaDB

PATIENT_NAME = "MTL0001_300001_V1"
SPOOL_ORIGIN = "spooling_pipeline"
LINES, DELAY = 3, 0.05  # the numbered lines, then the spool rows
ROWS, ROW_DELAY = 20, 0.1  # a run spools for about 2 s: a launcher killed mid-run finds rows written and more to come
MARIADB_DOWN_SECONDS = 4  # longer than a run's staleness (3 heartbeats of 1 s)


def spooling_pipeline_command(ledger) -> str:
    return (f"{{python}} {NUMBERED_PIPELINE} --lines {LINES} --delay {DELAY} --ledger {ledger} "
            "--run-key {upload_id}-{attempt} --module tests.support.spooling_pipeline -- "
            f"--upload-id {{loris_upload_id}} --rows {ROWS} --delay {ROW_DELAY} --with-pid --complete --patient 60")


def loris_env(database_url: str, amqp_url: str, work_dir, ledger, uploader_url: str, loris_mri_url: str) -> dict:
    """fault_env in LORIS site mode: the services as the uploader's granted MariaDB user, the pipeline as
    LORIS-MRI's (here an administrator), launched once validated."""
    return {
        **fault_env(database_url, amqp_url, work_dir, spooling_pipeline_command(ledger)),
        "UPLOADER_LORIS_DATABASE_URL": uploader_url,
        "UPLOADER_AUTO_LAUNCH": "true",
        "LORIS_DATABASE_URL": loris_mri_url,
        "UPLOADER_PIPELINE_ENVIRONMENT": "LORIS_DATABASE_URL",
    }


@pytest.fixture(scope="module")
async def loris_database(run_name):
    name = f"loris_{run_name}_{uuid.uuid4().hex[:6]}"
    await create_demo_loris_database(name)
    yield name
    await drop_loris_database(name)


@pytest.fixture(scope="module")
def stack(module_servers, ledger, loris_database, tmp_path_factory):
    """The stack with two launchers, on the module's LORIS database."""
    database_url, amqp_url = module_servers
    with uploader_user_of(loris_database, tmp_path_factory.mktemp("loris") / "password") as uploader_url:
        env = loris_env(database_url, amqp_url, tmp_path_factory.mktemp("loris-work"), ledger, uploader_url.strip(),
                        loris_url(loris_database))
        with FaultStack(env, tmp_path_factory.mktemp("logs"), replicas=("launcher.2",)) as running:
            yield running


@contextlib.asynccontextmanager
async def admin_connection(database: str, port: int | None = None):
    conn = await connect_as_admin(database, port)
    try:
        yield conn
    finally:
        conn.close()


async def check_and_assert(what: str, report, stream, client, pool, conn, min_accepted: int) -> None:
    await check_loris_tables(report, stream, client, pool, conn, patient_name=PATIENT_NAME, origin=SPOOL_ORIGIN)
    report.assert_clean(what, min_accepted=min_accepted)


# 1. The gateway SIGKILLed around its writes of mri_upload rows


async def kill_and_restart_gateway(stack: FaultStack, notes: list[str], clock, when: str) -> None:
    await stack.kill("gateway")
    notes.append(f"gateway killed at {clock():.1f} s, {when}")
    await stack.restart("gateway")
    notes.append(f"gateway ready again at {clock():.1f} s")


async def until_the_next_202(stream: UploadStream, timeout: float = 20) -> int:
    """Until one more upload is accepted; its upload id."""
    before = set(stream.accepted)
    async with asyncio.timeout(timeout):
        while not (new := set(stream.accepted) - before):
            await asyncio.sleep(0.01)
    return min(new)


WAITING_ROWS = "SELECT upload_id FROM gateway.uploads WHERE loris_row_wanted AND loris_row_set_aside IS NULL"


async def until_an_accepted_upload_waits_for_its_row(stream: UploadStream, pool, timeout: float = 20) -> list[int]:
    """Until an upload was answered 202 (without LORIS's UploadID) and its row is still not recorded: those."""
    async with asyncio.timeout(timeout):
        while True:
            waiting = [row["upload_id"] for row in await pool.fetch(WAITING_ROWS)]
            if accepted := sorted(set(waiting) & set(stream.accepted)):
                return accepted
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def mri_upload_locked(database: str):
    """LORIS's mri_upload locked for writing by another session (a LORIS backup or a long LORIS transaction
    would): every statement on it waits. Yields a function that lets them go on."""
    conn = await connect_as_admin(database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("LOCK TABLES mri_upload WRITE")

        async def unlock() -> None:
            async with conn.cursor() as unlocking:
                await unlocking.execute("UNLOCK TABLES")

        yield unlock
    finally:
        conn.close()


async def until_a_row_is_written(conn, upload_ids: list[int], timeout: float = 15) -> list[int]:
    """Until MariaDB has the row of one of these uploads: those that have one (none if none came in time)."""
    deadline = time.monotonic() + timeout
    while upload_ids and time.monotonic() < deadline:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT UploadLocation FROM mri_upload")
            locations = [location for (location,) in await cursor.fetchall()]
        if written := [upload_id for upload_id in upload_ids
                       if any(f"/{upload_id}/attempt-" in location for location in locations)]:
            return written
        await asyncio.sleep(0.02)
    return []


async def test_the_gateway_sigkilled_around_its_mri_upload_writes_leaves_one_row_per_upload(
        stack, http, archives, module_pool, loris_database, ledger):
    """Killed right after a 202; while its keeper waits on a locked mri_upload; and after MariaDB took a row but
    before PostgreSQL recorded it (the upload's record held by the test): the next gateway adopts that row."""
    await stack.ensure_running()
    client = demo_client(http, stack)
    notes = [f"service logs in {stack.log_dir}"]
    stream = UploadStream(client, archives(30), interval=0.5)
    async with stream, admin_connection(loris_database) as loris:
        await stream.wait_accepted(2)
        upload_id = await until_the_next_202(stream)
        await kill_and_restart_gateway(stack, notes, stream.elapsed, f"right after the 202 of upload {upload_id}")
        async with mri_upload_locked(loris_database) as unlock:
            waiting = await until_an_accepted_upload_waits_for_its_row(stream, module_pool)
            await kill_and_restart_gateway(stack, notes, stream.elapsed,
                                           f"while the rows of accepted uploads {waiting} waited on a locked "
                                           "mri_upload")
            async with module_pool.acquire() as conn, conn.transaction():
                held = [row["upload_id"] for row in await conn.fetch(WAITING_ROWS + " FOR UPDATE")]
                await unlock()
                written = await until_a_row_is_written(loris, held)
                await stack.kill("gateway")
                notes.append(f"gateway killed at {stream.elapsed():.1f} s, after MariaDB took the rows of uploads "
                             f"{written} and before PostgreSQL recorded them (uploads {held} held)")
        await stack.restart("gateway")
        notes.append(f"gateway ready again at {stream.elapsed():.1f} s")

    report = await account(client, stream, pool=module_pool, ledger=ledger, lines_per_run=LINES, notes=notes)
    async with admin_connection(loris_database) as loris:
        await check_and_assert("the gateway SIGKILLed around its mri_upload writes", report, stream, client,
                               module_pool, loris, min_accepted=len(stream.sent) // 3)


# 3. A launcher SIGKILLed while its runs write LORIS-MRI's log


async def until_runs_spooled(pool, upload_ids: list[int], timeout: float = 30) -> list:
    """Until runs of these uploads are running and some of their spool rows became log lines: those runs."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await pool.fetch("SELECT upload_id, owner FROM launcher.runs WHERE state = 'running' "
                                    "AND loris_spool_last > 0 AND upload_id = any($1::bigint[])", upload_ids)
            if rows:
                return rows
            await asyncio.sleep(0.05)


async def test_a_launcher_sigkilled_while_its_runs_spool_every_active_row_is_one_line_in_order(
        stack, http, archives, module_pool, loris_database, ledger):
    await stack.ensure_running()
    client = demo_client(http, stack)
    stream = await all_accepted(client, archives(4))  # two launchers with two slots each: all four run at once
    running = await until_runs_spooled(module_pool, sorted(stream.accepted))
    victim = "launcher" if stack.owns("launcher", running[0]["owner"]) else "launcher.2"
    notes = [f"{victim} killed while running uploads "
             f"{sorted(row['upload_id'] for row in running if stack.owns(victim, row['owner']))}",
             f"service logs in {stack.log_dir}"]
    await stack.kill(victim)

    report = await account(client, stream, pool=module_pool, ledger=ledger, lines_per_run=LINES, notes=notes)
    async with admin_connection(loris_database) as loris:
        await check_and_assert(f"{victim} SIGKILLed while its runs spool", report, stream, client, module_pool,
                               loris, min_accepted=len(stream.sent))


# 2. A MariaDB restart while uploads flow (a MariaDB server of the test's own)


PRIVATE_LORIS = "loris"


@pytest.fixture
async def private_loris(run_name, tmp_path):
    """A MariaDB server of the test's own holding the demo LORIS database, and the stack on it, with a PostgreSQL
    database and a vhost of its own (the module's stack runs beside it): (server, stack, pool)."""
    (tmp_path / "logs").mkdir()
    with PrivateMariaDB() as server:
        await create_demo_loris_database(PRIVATE_LORIS, port=server.port)
        async with database_and_vhost(run_name) as (database_url, amqp_url):
            with uploader_user_of(PRIVATE_LORIS, tmp_path / "password", server.client_environment()) as url:
                env = loris_env(database_url, amqp_url, tmp_path, tmp_path / "ledger", url.strip(),
                                server.url(PRIVATE_LORIS))
                with FaultStack(env, tmp_path / "logs") as stack:
                    pool = await open_pool(database_url)
                    try:
                        yield server, stack, pool
                    finally:
                        await pool.close()


async def refused_while_away(http, stack) -> list[str]:
    """A sign-in and a pre-flight check while MariaDB is away: 503, saying so; what else they answered."""
    async with http.post(f"{stack.gateway_url}/api/v1/session", json={"username": "demo", "password": "x"}) as answer:
        sign_in = answer.status, await answer.text()
    answer = await demo_client(http, stack).check(file_name=f"{PATIENT_NAME}_away.tgz", file_size=1000,
                                                  candid="300001", pscid="MTL0001", visit_label="V1")
    check = answer.status, await answer.text()
    return [f"{what} while MariaDB was away answered {status}, not 503: {text[:200]}"
            for what, (status, text) in (("a sign-in", sign_in), ("a pre-flight check", check)) if status != 503]


async def test_a_mariadb_restart_while_uploads_flow(private_loris, tmp_path, http, archives):
    server, stack, pool = private_loris
    client = demo_client(http, stack)
    notes = [f"service logs in {tmp_path / 'logs'}"]
    stream = UploadStream(client, archives(24), interval=0.5)
    async with stream:
        await stream.wait_accepted(3)
        if not await until_a_run_is_running(pool):
            notes.append("no run was running when MariaDB stopped")
        await asyncio.to_thread(server.pause)
        stopped = time.monotonic()
        notes.append(f"MariaDB stopped at {stream.elapsed():.1f} s")
        refusals = await refused_while_away(http, stack)
        await asyncio.sleep(max(0.0, MARIADB_DOWN_SECONDS - (time.monotonic() - stopped)))
        await asyncio.to_thread(server.resume)
        notes.append(f"MariaDB back at {stream.elapsed():.1f} s")

    report = await account(client, stream, pool=pool, ledger=tmp_path / "ledger", lines_per_run=LINES, notes=notes)
    report.other_problems += refusals + [f"{sent.archive.name} answered {sent.status}: {sent.error}"
                                         for sent in stream.sent if (sent.status or 0) >= 500 and sent.status != 503]
    async with admin_connection(PRIVATE_LORIS, server.port) as loris:
        await check_and_assert("MariaDB restarted", report, stream, client, pool, loris,
                               min_accepted=len(stream.sent) // 3)  # those sent while it was away get 503
