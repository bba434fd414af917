"""LORIS site mode: the users are LORIS's. The gateway runs in-process on the real PostgreSQL, RabbitMQ and
MariaDB, connected to LORIS's database as the MariaDB user setup.sh makes (granted only what
docs/loris-site.md lists): sign-in checks LORIS's password hashes as PHP does and the account's state, a change
in LORIS holds for live sessions and tokens within the re-read interval, tokens are issued for LORIS users, and
while MariaDB is away sign-in answers 503."""

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from datetime import date, timedelta

import pytest

from loris_standin.demo import DEMO_USERNAME, load_demo_project, php_password_hash
from services.common.loris_db import LorisDatabaseAddress
from services.common.scope import ALL_PERMISSIONS, ALL_SITES
from tests.integration.web_sign_in import LORIS_LOGIN, PASSWORD, SESSION, error_of, sign_in
from tests.support.loris import (MARIADB_HOST, MARIADB_PORT, REPO_ROOT, connect_as_admin, execute_as_admin,
                                 uploader_user_of)
from tests.support.tcp_proxy import TcpProxy

DEMO_PASSWORD = "demo password, with ünïcode"  # the one tests/integration/test_loris_standin.py loads
UPLOADS = "/api/v1/uploads"
STATUS = "/api/v1/status"
REREAD_SECONDS = 1
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
async def loris_database(loris_database_url):
    """The run's LORIS database (its name), with the demo project loaded."""
    database = LorisDatabaseAddress.from_url(loris_database_url).database
    conn = await connect_as_admin(database)
    try:
        await load_demo_project(conn, DEMO_PASSWORD)
    finally:
        conn.close()
    return database


@pytest.fixture(scope="module")
def granted_url(loris_database, tmp_path_factory):
    """The URL of a MariaDB user granted exactly what the uploader is, in the run's LORIS database."""
    with uploader_user_of(loris_database, tmp_path_factory.mktemp("loris") / "password") as url:
        yield url.strip()


@pytest.fixture
def loris_gateway(gateway_stack, granted_url):
    """A factory: `async with loris_gateway(**settings) as url` runs a gateway in LORIS site mode."""

    def run(loris_database_url: str = granted_url, **overrides):
        return gateway_stack(loris_database_url=loris_database_url, loris_user_reread_seconds=REREAD_SECONDS,
                             **overrides)

    return run


async def add_loris_user(database: str, *, password_hash: str | None = None, permissions=(ALL_SITES,),
                         sites=("MTL",), active="Y", pending="N", active_from=None, active_to=None,
                         change_required=0) -> str:
    """A LORIS user of a name no other test uses, whose password is PASSWORD unless another hash is given."""
    username = f"loris-{uuid.uuid4().hex[:8]}"
    conn = await connect_as_admin(database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(
                """INSERT INTO users (UserID, Real_name, Email, Active, Pending_approval, PasswordChangeRequired,
                                      Password_hash, active_from, active_to)
                   VALUES (%s, 'A LORIS user', %s, %s, %s, %s, %s, %s, %s)""",
                (username, f"{username}@example.org", active, pending, change_required,
                 password_hash or php_password_hash(PASSWORD), active_from, active_to))
            await cursor.execute(
                """INSERT INTO user_perm_rel (userID, permID) SELECT u.ID, p.permID FROM users u, permissions p
                   WHERE u.UserID = %s AND p.code IN %s""", (username, list(permissions) or [""]))
            await cursor.execute(
                """INSERT INTO user_psc_rel (UserID, CenterID) SELECT u.ID, s.CenterID FROM users u, psc s
                   WHERE u.UserID = %s AND s.Alias IN %s""", (username, list(sites) or [""]))
    finally:
        conn.close()
    return username


async def get(browser, url: str, **headers) -> tuple[int, dict]:
    async with browser.get(url, headers=headers) as answer:
        return answer.status, await answer.json()


async def status_becomes(browser, url: str, status: int, **headers) -> dict:
    """Asks again until the answer has this status (a change in LORIS is seen at the next re-read); its body."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        seen, body = await get(browser, url, **headers)
        if seen == status:
            return body
        assert asyncio.get_running_loop().time() < deadline, f"still {seen} after {WAIT_SECONDS} s: {body}"
        await asyncio.sleep(0.2)


def cookie_of(answer) -> dict[str, str]:
    return {"Cookie": f"uploader_session={answer.cookies['uploader_session'].value}"}


async def loris_login(browser, gateway: str, username: str, password: str = PASSWORD) -> tuple[int, dict]:
    async with browser.post(gateway + LORIS_LOGIN, json={"username": username, "password": password}) as answer:
        return answer.status, await answer.json()


def uploader_admin(database_url: str, loris_database_url: str, *args: str) -> subprocess.CompletedProcess:
    # As a module of this checkout (the installed uploader-admin may be another checkout's).
    done = subprocess.run([sys.executable, "-m", "services.gateway.admin.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
                          env={**os.environ, "UPLOADER_DATABASE_URL": database_url,
                               "UPLOADER_LORIS_DATABASE_URL": loris_database_url})
    assert "Traceback" not in done.stderr, done.stderr
    return done


async def test_the_demo_user_signs_in_with_its_y_hash_and_holds_every_permission_as_loris_superuser(
        loris_gateway, browser):
    async with loris_gateway() as (gateway, _):
        answer = await sign_in(browser, gateway, DEMO_USERNAME, DEMO_PASSWORD)
        assert answer.status == 200, await answer.text()

        status, session = await get(browser, gateway + SESSION, **cookie_of(answer))

    assert status == 200
    assert (session["username"], session["permissions"], session["sites"], session["may_use_uploader"]) == (
        DEMO_USERNAME, sorted(ALL_PERMISSIONS), ["MTL", "OTT"], True)


@pytest.mark.skipif(shutil.which("php") is None, reason="php-cli is not installed: no hash made by PHP itself")
async def test_a_hash_made_by_php_password_hash_verifies_on_both_sign_ins(loris_gateway, browser, loris_database):
    made = await asyncio.to_thread(subprocess.run, ["php", "-r", "echo password_hash($argv[1], PASSWORD_DEFAULT);",
                                                    PASSWORD], capture_output=True, text=True, check=True, timeout=30)
    assert made.stdout.startswith("$2y$")
    username = await add_loris_user(loris_database, password_hash=made.stdout)

    async with loris_gateway() as (gateway, _):
        assert (await sign_in(browser, gateway, username)).status == 200
        status, body = await loris_login(browser, gateway, username)
        assert status == 200, body
        status, _ = await get(browser, gateway + UPLOADS, Authorization=f"Bearer {body['token']}")

    assert status == 200


async def test_a_wrong_password_and_an_unknown_user_are_refused_alike(loris_gateway, browser, loris_database):
    username = await add_loris_user(loris_database)

    async with loris_gateway() as (gateway, _):
        wrong_password = await error_of(await sign_in(browser, gateway, username, "not the password"), 401)
        unknown_user = await error_of(await sign_in(browser, gateway, f"nobody-{uuid.uuid4().hex[:8]}"), 401)
        loris_answers = [await loris_login(browser, gateway, username, "not the password"),
                         await loris_login(browser, gateway, f"nobody-{uuid.uuid4().hex[:8]}")]

    assert wrong_password == unknown_user == {"code": "bad_credentials", "field": None,
                                              "message": "Incorrect username or password."}
    assert loris_answers[0] == loris_answers[1] == (401, {"error": "Incorrect username or password."})


# A month away from today, not a day: a run that passes midnight must not see "tomorrow" become today.
NEXT_MONTH, LAST_MONTH = date.today() + timedelta(days=30), date.today() - timedelta(days=30)


@pytest.mark.parametrize(("state", "message"), [
    ({"active": "N"}, "is inactive: ask your LORIS administrator."),
    ({"pending": "Y"}, "is waiting for approval by a LORIS administrator."),
    ({"active_from": NEXT_MONTH}, f"is active only from {NEXT_MONTH.isoformat()}."),
    ({"active_to": LAST_MONTH}, f"was active until {LAST_MONTH.isoformat()}: ask your LORIS administrator."),
    ({"change_required": 1}, "must change its password: change it in LORIS, then sign in again."),
])
async def test_each_refused_account_state_is_told_after_the_right_password(loris_gateway, browser, loris_database,
                                                                          state, message):
    username = await add_loris_user(loris_database, **state)

    async with loris_gateway() as (gateway, _):
        refused = await sign_in(browser, gateway, username)
        error = await error_of(refused, 403)
        loris_answer = await loris_login(browser, gateway, username)
        wrong_password = await sign_in(browser, gateway, username, "not the password")

    assert error == {"code": "account_refused", "field": None, "message": f"The LORIS account {username} {message}"}
    assert "Set-Cookie" not in refused.headers
    assert loris_answer == (403, {"error": f"The LORIS account {username} {message}"})
    assert wrong_password.status == 401


async def test_a_permission_revoked_in_loris_refuses_a_live_session(loris_gateway, browser, loris_database):
    username = await add_loris_user(loris_database, permissions=(ALL_SITES,))

    async with loris_gateway() as (gateway, _):
        session = cookie_of(await sign_in(browser, gateway, username))
        assert (await get(browser, gateway + UPLOADS, **session))[0] == 200

        await execute_as_admin(loris_database, """DELETE r FROM user_perm_rel r JOIN users u ON u.ID = r.userID
                                         WHERE u.UserID = %s""", username)

        error = (await status_becomes(browser, gateway + UPLOADS, 403, **session))["error"]
        status, still_signed_in = await get(browser, gateway + SESSION, **session)

    assert error["message"] == f"User {username} has no imaging uploader permission."
    assert status == 200 and still_signed_in["permissions"] == []


async def test_a_site_removed_in_loris_leaves_the_session_with_the_sites_left(loris_gateway, browser,
                                                                              loris_database):
    username = await add_loris_user(loris_database, permissions=("imaging_uploader_ownsites",), sites=("MTL", "OTT"))

    async with loris_gateway() as (gateway, _):
        session = cookie_of(await sign_in(browser, gateway, username))
        await execute_as_admin(loris_database, """DELETE r FROM user_psc_rel r JOIN users u ON u.ID = r.UserID
                                         JOIN psc s ON s.CenterID = r.CenterID
                                         WHERE u.UserID = %s AND s.Alias = 'OTT'""", username)
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while (await get(browser, gateway + SESSION, **session))[1]["sites"] != ["MTL"]:
            assert asyncio.get_running_loop().time() < deadline, "the site removed in LORIS is still the user's"
            await asyncio.sleep(0.2)


async def test_a_token_issued_for_a_loris_user_works_until_the_account_is_deactivated(
        loris_gateway, browser, loris_database, database_url, granted_url):
    username = await add_loris_user(loris_database)
    issued = uploader_admin(database_url, granted_url, "token", "issue", username)
    assert issued.returncode == 0, issued.stderr
    bearer = {"Authorization": f"Bearer {issued.stdout.strip()}"}

    async with loris_gateway() as (gateway, _):
        assert (await get(browser, gateway + UPLOADS, **bearer))[0] == 200

        await execute_as_admin(loris_database, "UPDATE users SET Active = 'N' WHERE UserID = %s", username)

        error = (await status_becomes(browser, gateway + UPLOADS, 401, **bearer))["error"]

    assert error["message"] == f"The LORIS account {username} is inactive: ask your LORIS administrator."


async def test_no_token_for_an_unknown_or_inactive_loris_user_and_no_users_of_our_own(
        loris_database, database_url, granted_url):
    inactive = await add_loris_user(loris_database, active="N")

    unknown = uploader_admin(database_url, granted_url, "token", "issue", "nobody-at-all")
    refused = uploader_admin(database_url, granted_url, "token", "issue", inactive)
    add = uploader_admin(database_url, granted_url, "user", "add", "someone")
    password = uploader_admin(database_url, granted_url, "user", "password", DEMO_USERNAME)

    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert "There is no LORIS user named 'nobody-at-all'" in unknown.stderr
    assert (refused.returncode, refused.stdout) == (1, "")
    assert f"The LORIS account {inactive} is inactive" in refused.stderr
    for done in (add, password):
        assert done.returncode == 1
        assert "The users live in LORIS" in done.stderr


async def test_while_mariadb_is_away_sign_in_answers_503_and_a_fresh_user_goes_on(gateway_stack, browser,
                                                                                  loris_database, granted_url):
    username = await add_loris_user(loris_database)
    async with TcpProxy(MARIADB_HOST, MARIADB_PORT) as proxy, \
            gateway_stack(loris_database_url=proxy.through(granted_url), loris_user_reread_seconds=60) as (gateway, _):
        session = cookie_of(await sign_in(browser, gateway, username))
        await proxy.cut()

        refused = await sign_in(browser, gateway, DEMO_USERNAME, DEMO_PASSWORD)
        error = await error_of(refused, 503)
        loris_answer = await loris_login(browser, gateway, DEMO_USERNAME, DEMO_PASSWORD)
        fresh = await get(browser, gateway + UPLOADS, **session)

        await proxy.restore()
        assert (await sign_in(browser, gateway, DEMO_USERNAME, DEMO_PASSWORD)).status == 200

    assert error == {"code": "loris_database_unavailable", "field": None,
                     "message": "The LORIS database cannot be reached right now, so no one can sign in; try again "
                                "in a moment."}
    assert loris_answer[0] == 503 and "LORIS database" in loris_answer[1]["error"]
    assert fresh[0] == 200


async def test_while_mariadb_is_away_a_user_that_must_be_read_again_answers_503(
        gateway_stack, browser, loris_database, database_url, granted_url):
    username = await add_loris_user(loris_database)
    issued = uploader_admin(database_url, granted_url, "token", "issue", username)
    bearer = {"Authorization": f"Bearer {issued.stdout.strip()}"}
    async with TcpProxy(MARIADB_HOST, MARIADB_PORT) as proxy, \
            gateway_stack(loris_database_url=proxy.through(granted_url)) as (gateway, _):
        await proxy.cut()

        status, body = await get(browser, gateway + UPLOADS, **bearer)

        await proxy.restore()
        assert (await get(browser, gateway + UPLOADS, **bearer))[0] == 200

    assert status == 503
    assert body["error"]["code"] == "loris_database_unavailable"
    assert "LORIS database cannot be reached" in body["error"]["message"]


async def test_loris_s_superuser_is_the_uploader_s_administrator_and_another_user_is_told_to_ask_loris(
        loris_gateway, browser, loris_database):
    all_sites_user = await add_loris_user(loris_database)

    async with loris_gateway() as (gateway, _):
        superuser = cookie_of(await sign_in(browser, gateway, DEMO_USERNAME, DEMO_PASSWORD))
        other = cookie_of(await sign_in(browser, gateway, all_sites_user))
        superuser_status, _ = await get(browser, gateway + STATUS, **superuser)
        other_status, refusal = await get(browser, gateway + STATUS, **other)

    assert (superuser_status, other_status) == (200, 403)
    assert refusal["error"]["message"] == (
        f"User {all_sites_user} lacks the permission imaging_uploader_admin, which the status page needs (a LORIS "
        "administrator gives it in LORIS: the permission imaging_uploader_admin, or superuser).")
