"""LORIS site mode's upload record, on the real MariaDB, PostgreSQL and RabbitMQ: each accepted upload has exactly
one row in LORIS's mri_upload, filled as LORIS's module fills it; an overwrite updates that row; the row is written
once MariaDB is back after an outage, and the runs that waited for it are granted then; a keeper that died between
MariaDB's write and PostgreSQL's, or two keepers at once, still leave one row. The gateway connects as the MariaDB
user docs/loris-site.md grants, so a missing grant shows."""

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest

from loris_standin.demo import load_demo_project
from services.common import metrics
from services.common.loris_connections import LorisConnections
from services.common.loris_db import LorisDatabaseAddress
from services.common.scan_store import DirectoryScanStore
from services.gateway.loris_record import keeper as keeper_module
from services.gateway.loris_record.keeper import LorisRecordKeeper
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually
from tests.integration.test_loris_api import LorisScript
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.loris import connect_as_admin, execute_as_admin, uploader_user_of
from tests.support.tap import of_upload
from tests.support.tcp_proxy import TcpProxy
from tests.support.tus_requests import TusRequests

ROW_COLUMNS = ("UploadID", "UploadedBy", "UploadLocation", "DecompressedLocation", "InsertionComplete", "Inserting",
               "PatientName", "number_of_mincInserted", "number_of_mincCreated", "TarchiveID", "SessionID",
               "IsCandidateInfoValidated", "IsTarchiveValidated", "IsPhantom")


@pytest.fixture(scope="module")
async def loris_database(loris_database_url) -> str:
    """The run's LORIS database, with the demo project (its candidates and visits); its name."""
    name = LorisDatabaseAddress.from_url(loris_database_url).database
    conn = await connect_as_admin(name)
    try:
        await load_demo_project(conn, "a demo password")
    finally:
        conn.close()
    return name


@pytest.fixture(scope="module")
def uploader_loris_url(loris_database, tmp_path_factory) -> str:
    """The URL of a MariaDB user granted exactly what docs/loris-site.md lists."""
    with uploader_user_of(loris_database, tmp_path_factory.mktemp("loris") / "password") as url:
        yield url.strip()


@pytest.fixture
async def loris_stack(gateway_stack, uploader_loris_url, http):
    """A factory: `async with loris_stack(**gateway_settings) as client` runs a gateway in LORIS site mode (on the
    granted user's URL unless another is given), with a logstore and a validator; no launcher."""

    @contextlib.asynccontextmanager
    async def run(**overrides):
        async with gateway_stack(**{"loris_database_url": uploader_loris_url, **overrides}) as (gateway_url, _):
            yield UploaderClient(http, gateway_url, DEMO_TOKEN)

    return run


async def loris_rows(database: str, where: str, *args) -> list[dict]:
    conn = await connect_as_admin(database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(f"SELECT {', '.join(ROW_COLUMNS)}, UploadDate, "
                                 f"TIMESTAMPDIFF(SECOND, UploadDate, NOW()) AS age FROM mri_upload WHERE {where}", args)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in await cursor.fetchall()]
    finally:
        conn.close()


async def rows_of_upload(database: str, upload_id: int) -> list[dict]:
    """Every mri_upload row of any attempt of the upload (each attempt's path holds /<upload id>/attempt-N/)."""
    return await loris_rows(database, "UploadLocation LIKE %s", f"%/{upload_id}/attempt-%")


async def session_id_of(database: str, candid: int, visit_label: str) -> int:
    conn = await connect_as_admin(database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT s.ID FROM session s JOIN candidate c ON c.ID = s.CandidateID "
                                 "WHERE c.CandID = %s AND s.Visit_label = %s", (candid, visit_label))
            return (await cursor.fetchone())[0]
    finally:
        conn.close()


async def scan_path(pool, incoming_path: Path, upload_id: int, attempt: int) -> str:
    key = await pool.fetchval("SELECT scan_key FROM gateway.upload_attempts WHERE upload_id = $1 AND attempt = $2",
                              upload_id, attempt)
    return str(incoming_path.resolve() / key)


def archive(tmp_path: Path) -> Path:
    return make_dicom_archive(tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz", "MTL0001_300001_V1",
                              n_files=1)


async def upload_candidate_scan(client: UploaderClient, path: Path, **fields) -> dict:
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1", **fields)
    assert answer.status == 202, await answer.text()
    return await answer.json()


async def warm_the_users_cache(client: UploaderClient) -> None:
    """One request while MariaDB is reachable, so the gateway has read the demo user from LORIS; with
    loris_user_reread_seconds=60 it trusts that read through the test's "MariaDB away" window, as a signed-in
    user's session does when MariaDB goes away mid-work."""
    answer = await client.get("/api/v1/session")
    assert answer.status == 200, await answer.text()


@contextlib.asynccontextmanager
async def gateway_that_loses_mariadb(loris_stack, uploader_loris_url, **overrides):
    """A LORIS-mode gateway reaching MariaDB through a proxy; yields (client, proxy) once the demo user is read,
    so that the test can then cut the proxy. The validator beside it is the standalone one (its registry in
    PostgreSQL): it stands for the window between the rule check on LORIS's registry and the row's write."""
    async with TcpProxy("127.0.0.1", 3306) as proxy, \
            loris_stack(loris_database_url=proxy.through(uploader_loris_url), loris_user_reread_seconds=60,
                        **overrides) as client:
        await warm_the_users_cache(client)
        yield client, proxy


async def gateway_state(pool, upload_id: int) -> str:
    return await pool.fetchval("SELECT state FROM gateway.uploads WHERE upload_id = $1", upload_id)


@pytest.fixture
async def keeper_on(pool, incoming_path):
    """A factory of keepers beside the gateway's, as another gateway's would be; their connections closed after."""
    connections = []

    def make(loris_url: str, store_root: Path | None = None) -> LorisRecordKeeper:
        connections.append(LorisConnections(loris_url))
        return LorisRecordKeeper(pool, connections[-1], DirectoryScanStore(store_root or incoming_path))

    yield make
    for each in connections:
        await each.close()


# --- one upload, one row, as LORIS fills it ---------------------------------------------------------------


async def test_an_upload_has_one_row_filled_as_loris_fills_it_and_the_answer_and_browse_show_its_upload_id(
        loris_stack, loris_database, pool, incoming_path, tmp_path):
    async with loris_stack() as client:
        accepted = await upload_candidate_scan(client, archive(tmp_path))
        upload_id, loris_upload_id = accepted["upload_id"], accepted["loris_upload_id"]

        rows = await rows_of_upload(loris_database, upload_id)
        assert loris_upload_id is not None and [row["UploadID"] for row in rows] == [loris_upload_id]
        row = rows[0]
        assert row["UploadedBy"] == "demo"
        assert 0 <= row["age"] < 60
        assert row["UploadLocation"] == await scan_path(pool, incoming_path, upload_id, 1)
        assert Path(row["UploadLocation"]).is_file()
        assert row["SessionID"] == await session_id_of(loris_database, 300001, "V1")
        assert (row["PatientName"], row["IsPhantom"]) == ("MTL0001_300001_V1", "N")
        assert (row["InsertionComplete"], row["IsTarchiveValidated"]) == (0, 0)
        assert [row[name] for name in ("Inserting", "TarchiveID", "number_of_mincInserted", "number_of_mincCreated",
                                       "IsCandidateInfoValidated")] == [None] * 5

        async def shown() -> bool:
            summary = await client.upload_summary(upload_id)
            page = await (await client.get("/api/v1/uploads", candid="300001", page_size=100)).json()
            listed = [item["loris_upload_id"] for item in page["items"] if item["upload_id"] == upload_id]
            return summary.get("loris_upload_id") == loris_upload_id and listed == [loris_upload_id]

        await eventually(shown, what="the upload's answer and Browse showing LORIS's UploadID")


async def test_a_tus_upload_gets_its_one_row_as_a_multipart_upload_does(
        loris_stack, loris_database, pool, incoming_path, http, tmp_path):
    async with loris_stack() as client:
        path = archive(tmp_path)
        tus = TusRequests(http, client.base_url, DEMO_TOKEN)
        creation = await tus.create(path.name, path.stat().st_size, body=path.read_bytes(), candid="300001",
                                    pscid="MTL0001", visit_label="V1")
        assert creation.status == 201, await creation.text()
        upload_id = int(creation.headers["Uploader-Upload-Id"])

        [row] = await rows_of_upload(loris_database, upload_id)
        assert row["UploadLocation"] == await scan_path(pool, incoming_path, upload_id, 1)
        assert (row["PatientName"], row["IsPhantom"], row["UploadedBy"]) == ("MTL0001_300001_V1", "N", "demo")


async def test_a_phantom_has_no_session_and_an_empty_patient_name(loris_stack, loris_database, tmp_path):
    async with loris_stack() as client:
        path = make_dicom_archive(tmp_path / f"phantom-{uuid.uuid4().hex[:8]}.tgz", "")
        answer = await client.upload(path, is_phantom=True)
        assert answer.status == 202, await answer.text()
        upload_id = (await answer.json())["upload_id"]

        [row] = await rows_of_upload(loris_database, upload_id)
        assert (row["SessionID"], row["PatientName"], row["IsPhantom"]) == (None, "", "Y")


async def test_an_overwrite_updates_the_one_row_and_deactivates_its_log_rows(
        loris_stack, loris_database, pool, incoming_path, tmp_path):
    async with loris_stack() as client:
        path = archive(tmp_path)
        first = await upload_candidate_scan(client, path)
        upload_id, loris_upload_id = first["upload_id"], first["loris_upload_id"]
        # As if a run had failed: LORIS-MRI's flags, counts and log rows on the row.
        await execute_as_admin(loris_database, "UPDATE mri_upload SET Inserting = 0, number_of_mincCreated = 3, "
                               "IsCandidateInfoValidated = 1, UploadDate = NOW() - INTERVAL 1 DAY WHERE UploadID = %s",
                               loris_upload_id)
        await execute_as_admin(loris_database, "INSERT INTO notification_spool (NotificationTypeID, ProcessID, "
                               "Message, Active) SELECT NotificationTypeID, %s, 'an earlier run', 'Y' "
                               "FROM notification_types WHERE Type = 'mri upload runner'", loris_upload_id)
        await eventually(lambda: _state_is(pool, upload_id, "upload.validated"), what="the upload validated")

        second = await upload_candidate_scan(client, path, overwrite=True)

        assert (second["upload_id"], second["attempt"], second["loris_upload_id"]) == (upload_id, 2, loris_upload_id)
        [row] = await rows_of_upload(loris_database, upload_id)
        assert row["UploadID"] == loris_upload_id
        assert row["UploadLocation"] == await scan_path(pool, incoming_path, upload_id, 2)
        assert row["age"] < 60
        assert [row[name] for name in ("Inserting", "number_of_mincCreated", "IsCandidateInfoValidated")] == [None] * 3
        assert (row["InsertionComplete"], row["PatientName"]) == (0, "MTL0001_300001_V1")
        conn = await connect_as_admin(loris_database)
        try:
            async with conn.cursor() as cursor:
                await cursor.execute("SELECT Active FROM notification_spool WHERE ProcessID = %s", (loris_upload_id,))
                assert [active for (active,) in await cursor.fetchall()] == ["N"]
        finally:
            conn.close()


async def _state_is(pool, upload_id: int, state: str) -> bool:
    return await gateway_state(pool, upload_id) == state


# --- MariaDB away ----------------------------------------------------------------------------------------


async def test_uploads_accepted_while_mariadb_is_away_get_their_one_row_and_their_run_once_it_is_back(
        loris_stack, loris_database, uploader_loris_url, pool, tap, tmp_path):
    async with gateway_that_loses_mariadb(loris_stack, uploader_loris_url, auto_launch=True) as (client, proxy):
        await proxy.cut()
        accepted = [await upload_candidate_scan(client, archive(tmp_path)) for _ in range(3)]
        upload_ids = [answer["upload_id"] for answer in accepted]

        assert [answer["loris_upload_id"] for answer in accepted] == [None] * 3
        for upload_id in upload_ids:
            await eventually(lambda upload_id=upload_id: _state_is(pool, upload_id, "upload.validated"),
                             what="the upload validated")
        for upload_id in upload_ids:  # validated, and still no row: no run
            assert await rows_of_upload(loris_database, upload_id) == []
            assert await gateway_state(pool, upload_id) == "upload.validated"

        await proxy.restore()

        for upload_id in upload_ids:
            granted = await tap.wait_for(of_upload(upload_id, "upload.launch_requested"), timeout=30)
            rows = await rows_of_upload(loris_database, upload_id)
            assert [row["UploadID"] for row in rows] == [granted.loris_upload_id]
            assert granted.scan.scan_key in rows[0]["UploadLocation"]


async def test_a_replayed_answer_carries_the_upload_id_loris_gave_once_the_row_is_written(
        loris_stack, loris_database, uploader_loris_url, pool, tmp_path):
    path, key = archive(tmp_path), {"Idempotency-Key": uuid.uuid4().hex}
    async with gateway_that_loses_mariadb(loris_stack, uploader_loris_url) as (client, proxy):
        await proxy.cut()
        first = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1", headers=key)
        assert first.status == 202, await first.text()
        upload_id = (await first.json())["upload_id"]
        await proxy.restore()
        [row] = await eventually(lambda: rows_of_upload(loris_database, upload_id), what="the upload's row")
        await eventually(lambda: _recorded(pool, upload_id), what="the UploadID kept by the gateway")

        replayed = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1", headers=key)

    assert (await first.json())["loris_upload_id"] is None
    assert replayed.status == 202 and replayed.headers["Idempotent-Replayed"] == "true"
    assert {**await replayed.json(), "loris_upload_id": None} == await first.json()
    assert (await replayed.json())["loris_upload_id"] == row["UploadID"]


async def _recorded(pool, upload_id: int) -> bool:
    return await pool.fetchval("SELECT loris_upload_id IS NOT NULL FROM gateway.uploads WHERE upload_id = $1",
                               upload_id)


async def test_a_gateway_starts_while_mariadb_cannot_be_reached_and_accepts_uploads_once_it_can(
        loris_stack, loris_database, uploader_loris_url, http, tmp_path):
    async with TcpProxy("127.0.0.1", 3306) as proxy:
        await proxy.cut()
        async with loris_stack(loris_database_url=proxy.through(uploader_loris_url)) as client:
            async with http.get(f"{client.base_url}/healthz") as health:
                assert health.status == 200
            refused = await client.upload(archive(tmp_path), candid="300001", pscid="MTL0001", visit_label="V1")
            assert refused.status == 503, await refused.text()
            assert (await refused.json())["error"]["code"] == "loris_database_unavailable"

            await proxy.restore()
            accepted = await upload_candidate_scan(client, archive(tmp_path))

            async def its_row() -> list[dict]:
                return await rows_of_upload(loris_database, accepted["upload_id"])

            await eventually(its_row, what="the upload's row in mri_upload")
            assert [row["UploadID"] for row in await its_row()] == [accepted["loris_upload_id"]]


# --- faults of the keeper itself -------------------------------------------------------------------------


@pytest.fixture
async def uploads_waiting_for_their_row(loris_stack, uploader_loris_url, tmp_path):
    """A factory: uploads accepted by a gateway that has lost MariaDB (after reading the demo user), so that their
    rows stay wanted for the test's own keepers to write."""
    async with gateway_that_loses_mariadb(loris_stack, uploader_loris_url) as (client, proxy):
        await proxy.cut()

        async def make(count: int = 1, **fields) -> list[int]:
            return [(await upload_candidate_scan(client, archive(tmp_path), **fields))["upload_id"]
                    for _ in range(count)]

        yield make, client


async def test_a_keeper_dying_between_mariadbs_write_and_postgresqls_leaves_one_row(
        uploads_waiting_for_their_row, uploader_loris_url, loris_database, pool, incoming_path, monkeypatch,
        keeper_on):
    make_uploads, _ = uploads_waiting_for_their_row
    [upload_id] = await make_uploads()
    keeper = keeper_on(uploader_loris_url)
    with monkeypatch.context() as patched:
        patched.setattr(keeper_module, "_record_written", _dies)
        with pytest.raises(KeeperKilled):
            await keeper.write_row(upload_id)
    [orphan] = await rows_of_upload(loris_database, upload_id)
    assert await pool.fetchval("SELECT loris_upload_id FROM gateway.uploads WHERE upload_id = $1", upload_id) is None

    loris_upload_id = await keeper.write_row(upload_id)

    assert [row["UploadID"] for row in await rows_of_upload(loris_database, upload_id)] == [orphan["UploadID"]]
    assert loris_upload_id == orphan["UploadID"]
    assert await pool.fetchval("SELECT loris_upload_id FROM gateway.uploads WHERE upload_id = $1", upload_id) == \
        loris_upload_id


async def test_an_overwrite_after_a_keeper_died_updates_the_row_the_first_attempt_left(
        uploads_waiting_for_their_row, uploader_loris_url, loris_database, pool, incoming_path, monkeypatch,
        tmp_path, keeper_on):
    make_uploads, client = uploads_waiting_for_their_row
    [upload_id] = await make_uploads()
    keeper = keeper_on(uploader_loris_url)
    with monkeypatch.context() as patched:
        patched.setattr(keeper_module, "_record_written", _dies)
        with pytest.raises(KeeperKilled):
            await keeper.write_row(upload_id)
    [orphan] = await rows_of_upload(loris_database, upload_id)
    file_name = await pool.fetchval("SELECT file_name FROM gateway.uploads WHERE upload_id = $1", upload_id)
    await eventually(lambda: _state_is(pool, upload_id, "upload.validated"), what="the upload validated")
    path = archive(tmp_path)
    again = await upload_candidate_scan(client, path, overwrite=True, file_name=file_name)
    assert again["attempt"] == 2

    await keeper.write_row(upload_id)

    [row] = await rows_of_upload(loris_database, upload_id)
    assert row["UploadID"] == orphan["UploadID"]
    assert row["UploadLocation"] == await scan_path(pool, incoming_path, upload_id, 2)


async def test_two_keepers_at_once_never_write_an_upload_twice(
        uploads_waiting_for_their_row, uploader_loris_url, loris_database, pool, keeper_on):
    make_uploads, _ = uploads_waiting_for_their_row
    upload_ids = await make_uploads(6)
    keepers = [keeper_on(uploader_loris_url) for _ in range(3)]

    for _ in range(3):
        await asyncio.gather(*(keeper.write_wanted() for keeper in keepers),
                             *(keeper.write_row(upload_id) for keeper in keepers for upload_id in upload_ids))

    for upload_id in upload_ids:
        rows = await rows_of_upload(loris_database, upload_id)
        recorded = await pool.fetchval("SELECT loris_upload_id FROM gateway.uploads WHERE upload_id = $1", upload_id)
        assert [row["UploadID"] for row in rows] == [recorded], f"upload {upload_id}: {rows}"


class KeeperKilled(Exception):
    pass


async def _dies(*_args) -> None:
    raise KeeperKilled("killed between MariaDB's write and PostgreSQL's")


# --- LORIS's ImagingUploaderAutoLaunch ---------------------------------------------------------------------


async def test_without_the_uploaders_own_setting_lorises_auto_launch_decides(
        loris_stack, loris_database, tap, tmp_path):
    set_auto_launch = ("UPDATE Config c JOIN ConfigSettings s ON s.ID = c.ConfigID SET c.Value = %s "
                       "WHERE s.Name = 'ImagingUploaderAutoLaunch'")
    await execute_as_admin(loris_database, set_auto_launch, "1")
    try:
        async with loris_stack(auto_launch=None) as client:
            accepted = await upload_candidate_scan(client, archive(tmp_path))
            granted = await tap.wait_for(of_upload(accepted["upload_id"], "upload.launch_requested"))
    finally:
        await execute_as_admin(loris_database, set_auto_launch, "0")

    assert granted.requested_by == "auto-launch"
    assert granted.loris_upload_id == accepted["loris_upload_id"] is not None


async def test_lorises_default_auto_launch_waits_for_a_launch_request(loris_stack, pool, tap, tmp_path):
    async with loris_stack(auto_launch=None) as client:
        accepted = await upload_candidate_scan(client, archive(tmp_path))
        upload_id = accepted["upload_id"]
        await eventually(lambda: _state_is(pool, upload_id, "upload.validated"), what="the upload validated")
        assert tap.matching(of_upload(upload_id, "upload.launch_requested")) == []

        answer = await client.launch(upload_id)

        assert answer.status == 202, await answer.text()
        granted = await tap.wait_for(of_upload(upload_id, "upload.launch_requested"))
        assert granted.loris_upload_id == accepted["loris_upload_id"] is not None


# --- LORIS's REST API names the upload by LORIS's UploadID ------------------------------------------------


async def test_the_loris_api_lists_and_launches_the_upload_under_lorises_upload_id(
        loris_stack, loris_database, http, tap, tmp_path):
    async with loris_stack() as client:
        script = LorisScript(http, client.base_url)
        path = archive(tmp_path)
        answer = await script.upload(path)
        assert answer.status == 303, await answer.text()
        (listed,) = (await script.processes(path.name))["MriUploads"]
        [row] = await loris_rows(loris_database, "UploadLocation LIKE %s", f"%/{path.name}")

        assert listed["MriUploadID"] == row["UploadID"]
        launched = await script.launch(path.name, row["UploadID"])
        assert launched.status == 202, await launched.text()
        granted = await tap.wait_for(lambda event: event.type == "upload.launch_requested"
                                     and event.scan.file_name == path.name)
        assert granted.loris_upload_id == row["UploadID"]


# --- a path longer than LORIS's UploadLocation (varchar 255) ---------------------------------------------


def deep_folder(root: Path, characters: int) -> Path:
    """A folder under `root` whose path is about `characters` long (made of names of 50 characters)."""
    folder = root
    while len(str(folder)) < characters - 51:
        folder = folder / ("d" * 50)
    folder.mkdir(parents=True)
    return folder


async def test_a_file_name_that_would_make_the_path_too_long_for_loris_is_refused_and_nothing_is_stored(
        loris_stack, loris_database, pool, incoming_path, tmp_path):
    name = f"phantom-{uuid.uuid4().hex[:8]}-{'x' * 190}.tgz"
    path = make_dicom_archive(tmp_path / "phantom.tgz", "")
    files_before = set(incoming_path.rglob("*"))
    async with loris_stack() as client:
        checked = await client.check(file_name=name, file_size=path.stat().st_size, is_phantom=True)
        answer = await client.upload(path, is_phantom=True, file_name=name)

    [error] = (await answer.json())["errors"]
    assert answer.status == 400 and (error["code"], error["field"]) == ("file_name_too_long", "file")
    assert error["message"].startswith(f"File name {name!r} is {len(name)} characters long: LORIS keeps an upload's "
                                       f"path (mri_upload.UploadLocation) in at most 255 characters")
    assert error["message"].endswith("give the file a shorter name.")
    assert (await checked.json())["errors"] == [error]
    assert await pool.fetchval("SELECT count(*) FROM gateway.uploads WHERE file_name = $1", name) == 0
    assert set(incoming_path.rglob("*")) == files_before
    assert await loris_rows(loris_database, "UploadLocation LIKE %s", f"%{name[:40]}%") == []


async def test_an_incoming_folder_too_long_for_loris_is_named_as_the_operator_s_to_shorten(
        loris_stack, pool, tmp_path):
    incoming = deep_folder(tmp_path, 220)
    path = archive(tmp_path)
    async with loris_stack(incoming_path=incoming) as client:
        answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")

    [error] = (await answer.json())["errors"]
    assert answer.status == 400 and error["code"] == "incoming_path_too_long"
    assert error["message"].startswith("The uploader's incoming folder is too long for LORIS: LORIS keeps an upload's "
                                       "path (mri_upload.UploadLocation) in at most 255 characters")
    assert error["message"].endswith("ask the uploader's operator to set a shorter UPLOADER_INCOMING_PATH.")
    assert await pool.fetchval("SELECT count(*) FROM gateway.uploads WHERE file_name = $1", path.name) == 0
    assert not any(incoming.rglob("*"))


async def test_a_row_loris_cannot_hold_is_set_aside_logged_and_counted_not_tried_again(
        uploads_waiting_for_their_row, uploader_loris_url, loris_database, pool, keeper_on, tmp_path, caplog):
    make_uploads, _ = uploads_waiting_for_their_row
    [upload_id] = await make_uploads()
    # A keeper whose incoming folder is too long, as after an operator moved the folder under a deeper one.
    keeper = keeper_on(uploader_loris_url, store_root=deep_folder(tmp_path, 240))
    set_aside_before = metrics.LORIS_ROWS_SET_ASIDE._value.get()

    assert await keeper.write_row(upload_id) is None
    assert await keeper.write_wanted() == 0

    reason, wanted = await pool.fetchrow(
        "SELECT loris_row_set_aside, loris_row_wanted FROM gateway.uploads WHERE upload_id = $1", upload_id)
    assert reason.startswith("The uploader's incoming folder is too long for LORIS") and wanted
    assert metrics.LORIS_ROWS_SET_ASIDE._value.get() == set_aside_before + 1
    assert [r.upload_id for r in caplog.records if r.levelname == "ERROR" and "set aside" in r.getMessage()] == [
        upload_id]
    assert await rows_of_upload(loris_database, upload_id) == []
    assert await gateway_state(pool, upload_id) != "upload.launch_requested"
