"""scripts/setup.sh --with-loris --with-database makes the LORIS database from the stand-in's tables and a
MariaDB user of the uploader's own, with a generated password kept in var/ and exactly the grants of
docs/loris-site.md. Run on the local MariaDB with a database and a user of the test's own, removed after."""

import os
import re
import stat
import subprocess
import uuid

import pytest

from services.common.loris_db import open_loris_pool
from tests.support.loris import connect_as_admin, run_local_mariadb_step
from tests.support.stack import REPO_ROOT

READ_ONLY = {"psc", "Project", "candidate", "session", "users", "permissions", "user_perm_rel", "user_psc_rel",
             "user_project_rel", "ConfigSettings", "Config", "tarchive", "notification_types"}
READ_WRITE = {"mri_upload", "notification_spool"}


@pytest.fixture
def names():
    suffix = uuid.uuid4().hex[:8]
    database, user = f"loris_setup_{suffix}", f"uploader_{suffix}"
    yield database, user
    run_local_mariadb_step(f"as_mariadb_admin -e \"DROP DATABASE IF EXISTS {database}; "
                           f"DROP USER IF EXISTS '{user}'@'127.0.0.1', '{user}'@'localhost'\"")


def setup_loris_database(database: str, user: str, password_file) -> str:
    """setup.sh's step (sourced, so that main does not run); what it says."""
    done = subprocess.run(
        ["bash", "-c", "source scripts/setup.sh && setup_loris_database && local_loris_url \"$UPLOADER_LORIS_DB_NAME\""],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "UPLOADER_LORIS_DB_NAME": database, "LORIS_DB_USER": user,
             "LORIS_PASSWORD_FILE": str(password_file)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def admin_fetch(database: str, query: str) -> list[tuple]:
    conn = await connect_as_admin(database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(query)
            return list(await cursor.fetchall())
    finally:
        conn.close()


async def grants_of(user: str) -> set[tuple[str, str]]:
    """(privileges, table) of each grant the user has on a table, from 127.0.0.1."""
    conn = await connect_as_admin()
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(f"SHOW GRANTS FOR '{user}'@'127.0.0.1'")
            lines = [line for (line,) in await cursor.fetchall()]
    finally:
        conn.close()
    return {(privileges, table) for line in lines
            for privileges, table in re.findall(r"^GRANT (.+) ON `[^`]+`\.`([^`]+)`", line)}


async def test_setup_makes_the_loris_database_and_a_user_granted_only_what_the_uploader_needs(names, tmp_path):
    database, user = names
    password_file = tmp_path / "var" / "loris-password"

    said = setup_loris_database(database, user, password_file)

    password = password_file.read_text()
    assert f"database {database} ready; user {user} (its password is in {password_file})" in said
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert re.fullmatch("[0-9a-f]{48}", password)
    url = said.splitlines()[-1]
    assert url == f"mysql://{user}:{password}@127.0.0.1:3306/{database}"
    assert await grants_of(user) == ({("SELECT", table) for table in READ_ONLY}
                                     | {("SELECT, INSERT, UPDATE", table) for table in READ_WRITE})
    pool = await open_loris_pool(url)
    try:
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute("SELECT code FROM permissions ORDER BY code")
            assert [code for (code,) in await cursor.fetchall()] == [
                "imaging_uploader_allsites", "imaging_uploader_nosessionid", "imaging_uploader_ownsites", "superuser"]
    finally:
        pool.close()
        await pool.wait_closed()


async def test_a_second_setup_keeps_the_password_and_the_tables(names, tmp_path):
    database, user = names
    password_file = tmp_path / "var" / "loris-password"
    setup_loris_database(database, user, password_file)
    password = password_file.read_text()
    await admin_fetch(database, "INSERT INTO mri_upload (UploadedBy, UploadLocation) VALUES ('demo', '/a.zip')")

    said = setup_loris_database(database, user, password_file)

    assert password_file.read_text() == password
    assert said.splitlines()[-1] == f"mysql://{user}:{password}@127.0.0.1:3306/{database}"
    assert await admin_fetch(database, "SELECT UploadedBy, UploadLocation FROM mri_upload") == [("demo", "/a.zip")]
