"""The LORIS stand-in on the real MariaDB: its tables load again without harm, the demo project loads
idempotently with a demo user whose password hash LORIS (PHP) accepts, the uploader's MariaDB user may do
what it needs and no more, and the pool reports a database it cannot reach as LorisDatabaseAway."""

import asyncio
import os
import shutil
import subprocess
import sys
import uuid

import bcrypt
import pymysql
import pytest

from loris_standin.tables import load_tables
from services.common.loris_db import (
    LorisDatabaseAddress,
    LorisDatabaseAway,
    loris_database_reachable,
    open_loris_pool,
)
from services.validator.demo_registry import CANDIDATES
from tests.support.loris import (
    connect_as_admin,
    create_loris_database,
    drop_loris_database,
    uploader_user_of,
)
from tests.support.stack import REPO_ROOT, free_port

DEMO_PASSWORD = "demo password, with ünïcode"
DEMO_TABLES = ["psc", "Project", "candidate", "session", "users", "user_perm_rel", "user_psc_rel", "user_project_rel"]
SEEDED_TABLES = ["permissions", "ConfigSettings", "Config", "notification_types"]


def database_of(url: str) -> str:
    return LorisDatabaseAddress.from_url(url).database


async def rows_of(url: str, tables: list[str]) -> dict[str, list[tuple]]:
    conn = await connect_as_admin(database_of(url))
    try:
        async with conn.cursor() as cursor:
            rows = {}
            for table in tables:
                await cursor.execute(f"SELECT * FROM `{table}` ORDER BY 1, 2")
                rows[table] = list(await cursor.fetchall())
            return rows
    finally:
        conn.close()


async def fetch(url: str, query: str, *args) -> list[tuple]:
    conn = await connect_as_admin(database_of(url))
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(query, args)
            return list(await cursor.fetchall())
    finally:
        conn.close()


def load_demo(url: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loris_standin.demo", url], check=False, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "UPLOADER_DEMO_PASSWORD": DEMO_PASSWORD, **env})


@pytest.fixture(scope="module")
def demo_loaded(loris_database_url):
    done = load_demo(loris_database_url)
    assert done.returncode == 0, done.stderr
    return loris_database_url


@pytest.fixture
async def demo_of_its_own(run_name):
    """A LORIS database holding only the demo project, for a test that counts rows other modules' tests (sharing
    the run's LORIS database) would add to."""
    name = f"loris_{run_name}_{uuid.uuid4().hex[:8]}"
    url = await create_loris_database(name)
    try:
        done = load_demo(url)
        assert done.returncode == 0, done.stderr
        yield url
    finally:
        await drop_loris_database(name)


async def test_the_schema_loads_again_without_error_and_changes_nothing(loris_database_url):
    before = await rows_of(loris_database_url, SEEDED_TABLES)
    conn = await connect_as_admin(database_of(loris_database_url))
    try:
        async with conn.cursor() as cursor:
            await load_tables(cursor)
    finally:
        conn.close()

    assert await rows_of(loris_database_url, SEEDED_TABLES) == before
    assert await fetch(loris_database_url,
                       "SELECT s.Name, c.Value FROM ConfigSettings s JOIN Config c ON c.ConfigID = s.ID ORDER BY 1") == [
        ("ImagingUploaderAutoLaunch", "0"), ("MRIUploadIncomingPath", "/data/incoming/"),
        ("useAdvancedPermissions", "false")]
    assert {code for (code,) in await fetch(loris_database_url, "SELECT code FROM permissions")} == {
        "superuser", "imaging_uploader_allsites", "imaging_uploader_ownsites", "imaging_uploader_nosessionid"}


async def test_the_demo_project_has_the_demo_registry_s_candidates_and_visits(demo_loaded):
    candidates = await fetch(demo_loaded, """SELECT c.CandID, c.PSCID, p.Alias, c.Active FROM candidate c
                                             JOIN psc p ON p.CenterID = c.RegistrationCenterID ORDER BY c.CandID""")
    visits = await fetch(demo_loaded, """SELECT c.CandID, s.Visit_label, s.Active FROM session s
                                         JOIN candidate c ON c.ID = s.CandidateID ORDER BY 1, 2""")

    assert candidates == [(int(candid), pscid, alias, "Y" if active else "N")
                          for candid, pscid, alias, active, _ in CANDIDATES]
    assert visits == [(int(candid), label, "Y" if active else "N")
                      for candid, _, _, _, labels in CANDIDATES for label, active in labels.items()]


async def test_loading_the_demo_again_gives_the_same_rows(demo_loaded):
    before = await rows_of(demo_loaded, DEMO_TABLES)

    done = load_demo(demo_loaded)

    assert done.returncode == 0, done.stderr
    assert "LORIS demo project loaded" in done.stdout
    assert await rows_of(demo_loaded, DEMO_TABLES) == before


async def test_the_demo_user_is_an_active_superuser_of_both_sites(demo_loaded):
    [(active, pending, permissions, sites)] = await fetch(demo_loaded, """
        SELECT u.Active, u.Pending_approval,
               (SELECT GROUP_CONCAT(p.code) FROM user_perm_rel r JOIN permissions p ON p.permID = r.permID
                WHERE r.userID = u.ID),
               (SELECT GROUP_CONCAT(c.Alias ORDER BY c.Alias) FROM user_psc_rel r JOIN psc c ON c.CenterID = r.CenterID
                WHERE r.UserID = u.ID)
        FROM users u WHERE u.UserID = 'demo'""")

    assert (active, pending, permissions, sites) == ("Y", "N", "superuser", "MTL,OTT")


async def test_the_demo_user_s_password_hash_is_the_one_php_would_make(demo_loaded):
    [(password_hash,)] = await fetch(demo_loaded, "SELECT Password_hash FROM users WHERE UserID = 'demo'")

    assert password_hash.startswith("$2y$10$")
    assert bcrypt.checkpw(DEMO_PASSWORD.encode(), password_hash.encode())
    assert not bcrypt.checkpw(b"another password", password_hash.encode())
    php_path = shutil.which("php")
    if php_path is None:
        pytest.skip("php is not installed (scripts/setup.sh --with-loris installs php-cli)")
    verify = "exit(password_verify(getenv('PASSWORD'), getenv('HASH')) ? 0 : 1);"
    for password, accepted in [(DEMO_PASSWORD, 0), ("another password", 1)]:
        php = await asyncio.create_subprocess_exec(php_path, "-r", verify, env={"PASSWORD": password, "HASH": password_hash})
        assert await php.wait() == accepted


def test_the_demo_refuses_to_load_without_a_password(loris_database_url):
    env = {name: value for name, value in os.environ.items() if name != "UPLOADER_DEMO_PASSWORD"}
    done = subprocess.run([sys.executable, "-m", "loris_standin.demo", loris_database_url], check=False, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, env=env)

    assert done.returncode == 1
    assert "UPLOADER_DEMO_PASSWORD is not set" in done.stderr


async def test_the_uploader_s_user_reads_candidates_and_writes_uploads_but_cannot_change_candidates(
        demo_of_its_own, tmp_path):
    with uploader_user_of(database_of(demo_of_its_own), tmp_path / "loris-password") as url:
        pool = await open_loris_pool(url)
        try:
            async with pool.acquire() as conn, conn.cursor() as cursor:
                await cursor.execute("SELECT COUNT(*) FROM candidate")
                assert (await cursor.fetchone())[0] == len(CANDIDATES)
                await cursor.execute("INSERT INTO mri_upload (UploadedBy, UploadLocation) VALUES ('demo', '/x.zip')")
                with (pytest.raises(pymysql.err.OperationalError, match="INSERT command denied") as refused,
                      loris_database_reachable()):
                    await cursor.execute("INSERT INTO candidate (CandID, PSCID, RegistrationCenterID, "
                                         "RegistrationProjectID) VALUES (999999, 'X', 1, 1)")
        finally:
            pool.close()
            await pool.wait_closed()

    assert refused.value.args[0] == 1142
    assert await fetch(demo_of_its_own, "SELECT UploadedBy, UploadLocation FROM mri_upload") == [("demo", "/x.zip")]
    assert await fetch(demo_of_its_own, "SELECT CandID FROM candidate WHERE CandID = 999999") == []


async def test_the_pool_speaks_utf8mb4_and_commits_each_statement(loris_database_url):
    pool = await open_loris_pool(loris_database_url)
    try:
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute("SELECT @@character_set_connection, @@autocommit, %s", ("Montréal 🧠",))
            assert await cursor.fetchone() == ("utf8mb4", 1, "Montréal 🧠")
        assert (pool.minsize, pool.maxsize) == (1, 4)
    finally:
        pool.close()
        await pool.wait_closed()


async def test_a_database_nobody_answers_for_is_reported_as_away():
    with pytest.raises(LorisDatabaseAway, match="the LORIS database cannot be reached"):
        await open_loris_pool(f"mysql://root@127.0.0.1:{free_port()}/loris", wait_seconds=1)


async def test_a_connection_the_server_dropped_is_reported_as_away(loris_database_url):
    pool = await open_loris_pool(loris_database_url)
    try:
        async with pool.acquire() as conn:
            async with conn.cursor() as cursor:
                await cursor.execute("SELECT CONNECTION_ID()")
                [connection_id] = await cursor.fetchone()
            admin = await connect_as_admin()
            try:
                async with admin.cursor() as cursor:
                    await cursor.execute(f"KILL {connection_id}")
            finally:
                admin.close()
            with pytest.raises(LorisDatabaseAway), loris_database_reachable():
                async with conn.cursor() as cursor:
                    await cursor.execute("SELECT 1")
    finally:
        pool.close()
        await pool.wait_closed()
