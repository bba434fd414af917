"""Nothing grows without bound: published outbox rows, de-duplication records,
the files of attempts that will not run again and partial files left by a
crash are removed after their retention, on the real database and store;
what is still needed (an unpublished event, a file a run may read) is kept.

Time is moved by backdating rows, with a retention of an hour: the other
tests' rows and files, all younger, are never touched."""

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from services.common import retention
from services.common.messages import RuleFailure, UploadRejected
from services.common.retention import prune_processed_events, prune_published_outbox
from services.common.scan_store import DirectoryScanStore, scan_key
from services.gateway.uploads.scan_retention import remove_expired_attempt_files
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually, finished_event, started_event
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive

HOUR = timedelta(hours=1)


# --- Outbox and de-duplication records -----------------------------------------

async def add_outbox_row(pool, schema: str, *, age: timedelta, published_age: timedelta | None) -> int:
    return await pool.fetchval(
        f"""INSERT INTO {schema}.outbox (event_id, routing_key, body, created_at, published_at)
            VALUES ($1, 'test.retention', '{{}}', now() - $2::interval,
                    CASE WHEN $3::interval IS NULL THEN NULL ELSE now() - $3::interval END)
            RETURNING id""",
        uuid.uuid4(), age, published_age,
    )


async def test_published_outbox_rows_are_pruned_after_the_retention_and_unpublished_ones_never(pool):
    # The logstore's outbox: no relay publishes it, so the unpublished row stays unpublished during the test.
    old_published = await add_outbox_row(pool, "logstore", age=timedelta(days=3), published_age=timedelta(days=2))
    recent_published = await add_outbox_row(pool, "logstore", age=timedelta(days=3), published_age=timedelta(minutes=10))
    old_unpublished = await add_outbox_row(pool, "logstore", age=timedelta(days=3), published_age=None)
    try:
        pruned = await prune_published_outbox(pool, "logstore", HOUR)

        left = {row["id"] for row in await pool.fetch("SELECT id FROM logstore.outbox WHERE routing_key = 'test.retention'")}
        assert pruned >= 1
        assert old_published not in left
        assert {recent_published, old_unpublished} <= left
    finally:
        await pool.execute("DELETE FROM logstore.outbox WHERE routing_key = 'test.retention'")


async def test_de_duplication_records_older_than_the_retention_are_pruned_in_batches(pool):
    many = retention.BATCH_ROWS * 2 + 17
    await pool.execute(
        """INSERT INTO logstore.processed_events (event_id, processed_at)
           SELECT gen_random_uuid(), now() - interval '8 days' FROM generate_series(1, $1)""",
        many,
    )
    recent = uuid.uuid4()
    await pool.execute("INSERT INTO logstore.processed_events (event_id) VALUES ($1)", recent)

    pruned = await prune_processed_events(pool, "logstore", timedelta(days=7))

    assert pruned == many
    assert await pool.fetchval("SELECT count(*) FROM logstore.processed_events WHERE processed_at < now() - interval '7 days'") == 0
    assert await pool.fetchval("SELECT true FROM logstore.processed_events WHERE event_id = $1", recent)


@pytest.mark.parametrize(("statement", "index"), [
    ("SELECT id FROM validator.outbox WHERE published_at < now() - interval '1 hour' LIMIT 5000",
     "outbox_published_at"),
    ("SELECT event_id FROM validator.processed_events WHERE processed_at < now() - interval '1 hour' LIMIT 5000",
     "processed_events_processed_at"),
])
async def test_each_pruning_batch_finds_its_rows_through_an_index(pool, statement, index):
    # On a table of a few rows the planner rightly prefers reading it all; forbid that to see the index is usable.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in await conn.fetch(f"EXPLAIN {statement}"))
    assert index in plan, plan


# --- Attempt files -------------------------------------------------------------

@pytest.fixture
async def client(gateway_stack, http):
    async with gateway_stack() as (gateway_url, _):
        yield UploaderClient(http, gateway_url, DEMO_TOKEN)


@pytest.fixture
def store(incoming_path) -> DirectoryScanStore:
    return DirectoryScanStore(incoming_path)


@pytest.fixture
def archive(tmp_path):
    def make() -> Path:
        name = f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz"
        return make_dicom_archive(tmp_path / name, "MTL0001_300001_V1", n_files=1)

    return make


async def upload(client: UploaderClient, path: Path, *, overwrite=False) -> dict:
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1", overwrite=overwrite)
    assert answer.status == 202, await answer.text()
    return await answer.json()


async def state_becomes(pool, upload_id: int, state: str) -> None:
    async def reached():
        return await pool.fetchval("SELECT state FROM gateway.uploads WHERE upload_id = $1", upload_id) == state

    await eventually(reached, what=f"upload {upload_id} reaching {state}")


async def an_hour_and_more_later(pool, upload_id: int) -> None:
    """Make the upload's attempts and its last change two hours old."""
    await pool.execute("UPDATE gateway.upload_attempts SET uploaded_at = uploaded_at - interval '2 hours' "
                       "WHERE upload_id = $1", upload_id)
    await pool.execute("UPDATE gateway.uploads SET updated_at = updated_at - interval '2 hours' WHERE upload_id = $1",
                       upload_id)


def file_of(store, name: str, upload_id: int, attempt: int) -> Path:
    return store.local_path(scan_key("demo", upload_id, attempt, name))


async def removed_at(pool, upload_id: int, attempt: int):
    return await pool.fetchval("SELECT removed_at FROM gateway.upload_attempts WHERE upload_id = $1 AND attempt = $2",
                               upload_id, attempt)


async def removed_an_hour_later(pool, store, upload_id: int, scan: Path) -> None:
    """An hour and more on, the attempt's file is removed and marked so."""
    await an_hour_and_more_later(pool, upload_id)
    await remove_expired_attempt_files(pool, store, HOUR)
    assert not scan.exists()
    assert await removed_at(pool, upload_id, 1) is not None


async def test_the_file_of_a_replaced_attempt_is_removed_once_the_retention_after_its_replacement_passed(
        client, pool, store, archive):
    path = archive()
    first = await upload(client, path)
    upload_id = first["upload_id"]
    await state_becomes(pool, upload_id, "upload.validated")
    await upload(client, path, overwrite=True)
    replaced = file_of(store, path.name, upload_id, 1)
    current = file_of(store, path.name, upload_id, 2)

    await remove_expired_attempt_files(pool, store, HOUR)
    assert replaced.is_file(), "a file replaced minutes ago was removed before its retention"

    await an_hour_and_more_later(pool, upload_id)
    await remove_expired_attempt_files(pool, store, HOUR)

    assert not replaced.exists()
    assert await removed_at(pool, upload_id, 1) is not None
    assert current.is_file(), "the current attempt's file (its run may still be granted) was removed"
    assert await removed_at(pool, upload_id, 2) is None


async def test_the_file_of_a_rejected_upload_is_removed_after_the_retention(client, pool, store, archive,
                                                                             tap):
    path = archive()
    upload_id = (await upload(client, path))["upload_id"]
    await tap.publish(UploadRejected(upload_id=upload_id, attempt=1,
                                     failures=[RuleFailure(field="candid", code="inactive", message="inactive")]))
    await state_becomes(pool, upload_id, "upload.rejected")
    await removed_an_hour_later(pool, store, upload_id, file_of(store, path.name, upload_id, 1))


async def test_a_file_is_kept_while_its_run_is_granted_or_running_and_removed_once_the_run_failed(
        client, pool, store, archive, tap):
    path = archive()
    upload_id = (await upload(client, path))["upload_id"]
    scan = file_of(store, path.name, upload_id, 1)
    async def still_there_an_hour_later(why_not: str) -> None:
        await an_hour_and_more_later(pool, upload_id)
        await remove_expired_attempt_files(pool, store, HOUR)
        assert scan.is_file(), why_not

    await state_becomes(pool, upload_id, "upload.validated")
    await still_there_an_hour_later("a validated upload's file, still to run, was removed")

    assert (await client.launch(upload_id)).status == 202
    await state_becomes(pool, upload_id, "upload.launch_requested")
    await still_there_an_hour_later("the file of a granted run was removed")

    await tap.publish(started_event(upload_id))
    await state_becomes(pool, upload_id, "pipeline.started")
    await still_there_an_hour_later("the file of a running pipeline was removed")

    await tap.publish(finished_event(upload_id, exit_code=1, message="Pipeline failed."))
    await state_becomes(pool, upload_id, "pipeline.finished")
    await remove_expired_attempt_files(pool, store, HOUR)
    assert scan.is_file(), "a failed upload's file was removed before the retention (it may be launched again)"

    await removed_an_hour_later(pool, store, upload_id, scan)


async def test_removing_a_file_already_gone_is_done_once_and_quietly(client, pool, store, archive, tap):
    path = archive()
    upload_id = (await upload(client, path))["upload_id"]
    await tap.publish(UploadRejected(upload_id=upload_id, attempt=1,
                                     failures=[RuleFailure(field="candid", code="inactive", message="inactive")]))
    await state_becomes(pool, upload_id, "upload.rejected")
    await an_hour_and_more_later(pool, upload_id)
    file_of(store, path.name, upload_id, 1).unlink()

    await remove_expired_attempt_files(pool, store, HOUR)
    first_mark = await removed_at(pool, upload_id, 1)
    await remove_expired_attempt_files(pool, store, HOUR)

    assert first_mark is not None
    assert await removed_at(pool, upload_id, 1) == first_mark


# --- A crash between the file and its record -------------------------------------

async def test_a_file_left_by_a_crash_before_the_record_committed_never_blocks_a_later_overwrite(
        client, pool, store, archive):
    path = archive()
    upload_id = (await upload(client, path))["upload_id"]
    await state_becomes(pool, upload_id, "upload.validated")
    # A gateway renamed attempt 2's file to its key, then died before its transaction committed: the
    # attempt number was rolled back, so the next overwrite claims attempt 2, and the same key, again.
    leftover = file_of(store, path.name, upload_id, 2)
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"the bytes of an upload that never got its record")

    accepted = await upload(client, path, overwrite=True)

    assert accepted["attempt"] == 2
    assert leftover.read_bytes() == path.read_bytes()


# --- At the gateway's start ------------------------------------------------------

async def test_a_starting_gateway_sweeps_old_partial_files_and_prunes_its_outbox(gateway_stack, pool, incoming_path):
    partial = incoming_path / ".partial"
    partial.mkdir(exist_ok=True)
    crashed = partial / f"{uuid.uuid4().hex}.part"
    crashed.write_bytes(b"left by a crash")
    two_hours_ago = time.time() - 7200
    os.utime(crashed, (two_hours_ago, two_hours_ago))
    fresh = partial / f"{uuid.uuid4().hex}.part"
    fresh.write_bytes(b"being written by another gateway, just created")
    old_published = await add_outbox_row(pool, "gateway", age=timedelta(days=3), published_age=timedelta(days=2))
    try:
        async with gateway_stack(outbox_retention_hours=1):
            async def outbox_pruned():
                return not await pool.fetchval("SELECT true FROM gateway.outbox WHERE id = $1", old_published)

            await eventually(outbox_pruned, what="the gateway pruning its outbox at start")
            assert not crashed.exists()
            assert fresh.exists()
    finally:
        fresh.unlink(missing_ok=True)
