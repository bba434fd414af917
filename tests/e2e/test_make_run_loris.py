"""`make run LORIS=1` as a user meets it: scripts/run.sh with LORIS=1 sets up a LORIS database (the test's own),
loads the LORIS demo project and starts the stack in LORIS site mode with the reference pipeline as LORIS-MRI; the
demo archive uploaded with the token the banner prints reaches Success, LORIS's mri_upload row is complete, and the
upload's log holds the lines the pipeline spooled into notification_spool."""

import asyncio
import os
import re
import subprocess
import time
import uuid

import pytest

from services.gateway.admin.demo_archive import write_demo_archive
from tests.support import servers
from tests.support.api import UploaderClient
from tests.support.loris import connect_as_admin, drop_loris_database, run_local_mariadb_step
from tests.support.procfile_stack import free_base_port
from tests.support.processes import stop_process
from tests.support.stack import REPO_ROOT, own_ports

BANNER_END = "Press Ctrl-C to stop."
START_TIMEOUT = 90


def drop_mariadb_users(*users: str) -> None:
    hosts = ", ".join(f"'{user}'@'{host}'" for user in users for host in ("127.0.0.1", "localhost"))
    run_local_mariadb_step(f'as_mariadb_admin -e "DROP USER IF EXISTS {hosts}"')


@pytest.fixture
async def loris_run(tmp_path):
    """run.sh LORIS=1 on a PostgreSQL database, vhost, LORIS database and MariaDB users of the test's own; its
    banner, its LORIS database's name and its log's path."""
    name = servers.new_run_name()
    suffix = uuid.uuid4().hex[:8]
    loris_db, uploader_user, loris_mri_user = f"loris_{name}", f"uploader_{suffix}", f"lorismri_{suffix}"
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("UPLOADER_")}
    env = {**inherited, **own_ports(), "LORIS": "1", "UPLOADER_DB_NAME": name, "UPLOADER_LORIS_DB_NAME": loris_db,
           "UPLOADER_AMQP_URL": servers.create_vhost(name),
           "UPLOADER_REPLICA_BASE_PORT": str(free_base_port({"validator": 1, "launcher": 1})),
           "UPLOADER_INCOMING_PATH": str(tmp_path / "incoming"),
           "UPLOADER_PIPELINE_OUTPUT_PATH": str(tmp_path / "output"),
           "UPLOADER_DEMO_TOKEN": f"token-{suffix}", "UPLOADER_DEMO_PASSWORD": f"password-{suffix}",
           "UPLOADER_INTERNAL_SECRET": f"internal-secret-{suffix}", "UPLOADER_OUTBOX_POLL_SECONDS": "0.2",
           "LORIS_DB_USER": uploader_user, "LORIS_PASSWORD_FILE": str(tmp_path / "loris-password"),
           "LORIS_MRI_DB_USER": loris_mri_user, "LORIS_MRI_PASSWORD_FILE": str(tmp_path / "loris-mri-password")}
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(["bash", "scripts/run.sh"], cwd=REPO_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        banner = await wait_for_banner(process, log_path)
        yield banner, loris_db, log_path
    finally:
        await asyncio.to_thread(stop_process, process, 60)
        await servers.drop_database(name)
        servers.delete_vhost(name)
        await drop_loris_database(loris_db)
        drop_mariadb_users(uploader_user, loris_mri_user)


async def wait_for_banner(process: subprocess.Popen, log_path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while BANNER_END not in (text := log_path.read_text(errors="replace")):
        assert process.poll() is None, f"run.sh exited with {process.returncode}:\n{text}"
        assert time.monotonic() < deadline, f"no banner within {START_TIMEOUT} s:\n{text}"
        await asyncio.sleep(0.2)
    return text


def banner_value(banner: str, pattern: str) -> str:
    found = re.search(pattern, banner)
    assert found, f"{pattern!r} not in the banner:\n{banner}"
    return found.group(1)


async def mri_upload_row(loris_db: str, loris_upload_id: int) -> dict:
    conn = await connect_as_admin(loris_db)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT UploadLocation, Inserting, InsertionComplete, TarchiveID, "
                                 "number_of_mincCreated, number_of_mincInserted FROM mri_upload WHERE UploadID = %s",
                                 (loris_upload_id,))
            columns = [column[0] for column in cursor.description]
            return dict(zip(columns, await cursor.fetchone(), strict=True))
    finally:
        conn.close()


async def spooled_messages(loris_db: str, loris_upload_id: int) -> list[str]:
    conn = await connect_as_admin(loris_db)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT Message FROM notification_spool WHERE ProcessID = %s AND Active = 'Y' "
                                 "ORDER BY NotificationID", (loris_upload_id,))
            return [message for (message,) in await cursor.fetchall()]
    finally:
        conn.close()


async def test_make_run_loris_takes_the_demo_archive_to_success_with_loris_s_row_and_spooled_log(
        loris_run, http, tmp_path):
    banner, loris_db, log_path = loris_run
    assert "LORIS site mode on the LORIS database" in banner and f"127.0.0.1:3306/{loris_db}" in banner
    assert "--loris-upload-id {loris_upload_id}" in banner
    base_url = banner_value(banner, r"running at (http://\S+)/\n")
    token = banner_value(banner, r"Token:\s+(\S+)")
    client = UploaderClient(http, base_url, token)

    answer = await client.upload(write_demo_archive(tmp_path), candid="300001", pscid="MTL0001", visit_label="V1")

    assert answer.status == 202, await answer.text()
    accepted = await answer.json()
    upload = await client.wait_for_progress(accepted["upload_id"], timeout=60)
    assert upload["progress"] == "Success", f"{upload}\n{log_path.read_text(errors='replace')[-4000:]}"
    loris_upload_id = upload["loris_upload_id"]
    row = await mri_upload_row(loris_db, loris_upload_id)
    assert (row["Inserting"], row["InsertionComplete"]) == (0, 1)
    assert row["TarchiveID"] is not None
    assert row["number_of_mincCreated"] == row["number_of_mincInserted"] == upload["minc_created"]
    assert row["UploadLocation"].endswith(".tgz")
    spooled = await spooled_messages(loris_db, loris_upload_id)
    assert "The insertion completed." in spooled
    log = await client.log(accepted["upload_id"], mode="detailed", limit=10000)
    from_the_spool = [line["message"] for line in log["lines"] if line["message"] in set(spooled)]
    assert from_the_spool == spooled, "every spooled row, once, in order"
