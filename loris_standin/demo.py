"""Load the demo project into a LORIS database (idempotent): the demo sites, candidates and visits (those of
services/validator/demo_registry.py), a project, and the demo user `demo` (superuser, both sites), whose
password is UPLOADER_DEMO_PASSWORD.

    UPLOADER_DEMO_PASSWORD=... python -m loris_standin.demo [mysql://admin@host:3306/loris]

Without an argument it uses UPLOADER_LORIS_DATABASE_URL. It writes to candidate, session and users, which
the uploader's own MariaDB user may only read: give it an administrator's URL."""

import asyncio
import sys

import aiomysql
import bcrypt
from pydantic import ValidationError

from services.common.loris_db import open_loris_pool
from services.common.settings import DemoUserSettings, ServiceSettings
from services.validator.demo_registry import CANDIDATES, SITES

PROJECT_NAME = "Demo"
PROJECT_ALIAS = "DEMO"
DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_PERMISSION = "superuser"
BCRYPT_COST = 10  # PHP's password_hash default


def php_password_hash(password: str) -> str:
    """What PHP's password_hash(password, PASSWORD_DEFAULT) makes: bcrypt, cost 10, under PHP's prefix $2y$
    (the same algorithm as $2b$)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_COST)).decode()
    return "$2y$" + hashed.removeprefix("$2b$")


def yes_no(flag: bool) -> str:
    return "Y" if flag else "N"


async def save_project(cursor: aiomysql.Cursor) -> int:
    await cursor.execute(
        "INSERT INTO Project (Name, Alias) VALUES (%s, %s) ON DUPLICATE KEY UPDATE Alias = VALUES(Alias)",
        (PROJECT_NAME, PROJECT_ALIAS))
    await cursor.execute("SELECT ProjectID FROM Project WHERE Name = %s", (PROJECT_NAME,))
    return (await cursor.fetchone())[0]


async def save_sites(cursor: aiomysql.Cursor) -> dict[str, int]:
    """Each demo site; its CenterID by alias."""
    for name, alias in SITES:
        await cursor.execute(
            """INSERT INTO psc (Name, Alias, MRI_alias, Study_site) VALUES (%s, %s, %s, 'Y')
               ON DUPLICATE KEY UPDATE Alias = VALUES(Alias), MRI_alias = VALUES(MRI_alias)""",
            (name, alias, alias))
    await cursor.execute("SELECT Alias, CenterID FROM psc WHERE Alias IN %s", ([alias for _, alias in SITES],))
    return dict(await cursor.fetchall())


async def save_visit(cursor: aiomysql.Cursor, candidate_id: int, center_id: int, project_id: int,
                     visit_label: str, active: bool) -> None:
    # LORIS has no unique key on a candidate's visit label: look the visit up first.
    await cursor.execute("SELECT ID FROM session WHERE CandidateID = %s AND Visit_label = %s",
                         (candidate_id, visit_label))
    found = await cursor.fetchone()
    if found:
        await cursor.execute("UPDATE session SET CenterID = %s, ProjectID = %s, Active = %s WHERE ID = %s",
                             (center_id, project_id, yes_no(active), found[0]))
    else:
        await cursor.execute(
            "INSERT INTO session (CandidateID, CenterID, ProjectID, Visit_label, Active) VALUES (%s, %s, %s, %s, %s)",
            (candidate_id, center_id, project_id, visit_label, yes_no(active)))


async def save_candidates(cursor: aiomysql.Cursor, center_ids: dict[str, int], project_id: int) -> None:
    for candid, pscid, alias, active, visits in CANDIDATES:
        await cursor.execute(
            """INSERT INTO candidate (CandID, PSCID, RegistrationCenterID, RegistrationProjectID, Active, Entity_type)
               VALUES (%s, %s, %s, %s, %s, 'Human')
               ON DUPLICATE KEY UPDATE PSCID = VALUES(PSCID), RegistrationCenterID = VALUES(RegistrationCenterID),
                   RegistrationProjectID = VALUES(RegistrationProjectID), Active = VALUES(Active)""",
            (int(candid), pscid, center_ids[alias], project_id, yes_no(active)))
        await cursor.execute("SELECT ID FROM candidate WHERE CandID = %s", (int(candid),))
        candidate_id = (await cursor.fetchone())[0]
        for visit_label, visit_active in visits.items():
            await save_visit(cursor, candidate_id, center_ids[alias], project_id, visit_label, visit_active)


async def password_hash_to_keep(cursor: aiomysql.Cursor, password: str) -> str:
    """The demo user's hash as it is when it still matches the password (a reload changes nothing), else a new one."""
    await cursor.execute("SELECT Password_hash FROM users WHERE UserID = %s", (DEMO_USERNAME,))
    found = await cursor.fetchone()
    if found and found[0] and bcrypt.checkpw(password.encode(), found[0].encode()):
        return found[0]
    return php_password_hash(password)


async def save_demo_user(cursor: aiomysql.Cursor, password: str, center_ids: dict[str, int], project_id: int) -> None:
    password_hash = await password_hash_to_keep(cursor, password)
    await cursor.execute(
        """INSERT INTO users (UserID, Real_name, Email, Active, Pending_approval, PasswordChangeRequired, Password_hash)
           VALUES (%s, 'Demo user', %s, 'Y', 'N', 0, %s)
           ON DUPLICATE KEY UPDATE Active = 'Y', Pending_approval = 'N', PasswordChangeRequired = 0,
               Password_hash = VALUES(Password_hash)""",
        (DEMO_USERNAME, DEMO_EMAIL, password_hash))
    await cursor.execute("SELECT ID FROM users WHERE UserID = %s", (DEMO_USERNAME,))
    user_id = (await cursor.fetchone())[0]
    await cursor.execute(
        """INSERT INTO user_perm_rel (userID, permID) SELECT %s, permID FROM permissions WHERE code = %s
           ON DUPLICATE KEY UPDATE userID = userID""",
        (user_id, DEMO_PERMISSION))
    await cursor.executemany(
        "INSERT INTO user_psc_rel (UserID, CenterID) VALUES (%s, %s) ON DUPLICATE KEY UPDATE UserID = UserID",
        [(user_id, center_id) for center_id in center_ids.values()])
    await cursor.execute(
        "INSERT INTO user_project_rel (UserID, ProjectID) VALUES (%s, %s) ON DUPLICATE KEY UPDATE UserID = UserID",
        (user_id, project_id))


async def load_demo_project(conn: aiomysql.Connection, password: str) -> None:
    """In one transaction: a reader never sees half of it."""
    await conn.begin()
    try:
        async with conn.cursor() as cursor:
            project_id = await save_project(cursor)
            center_ids = await save_sites(cursor)
            await save_candidates(cursor, center_ids, project_id)
            await save_demo_user(cursor, password, center_ids, project_id)
        await conn.commit()
    except BaseException:
        await conn.rollback()
        raise


def demo_password() -> str:
    """UPLOADER_DEMO_PASSWORD, or the program's end saying it is not set. LORIS has no API tokens: only the
    password is read, so UPLOADER_DEMO_TOKEN need not be set."""
    try:
        return DemoUserSettings(token="not used in LORIS").password
    except ValidationError:
        sys.exit(f"UPLOADER_DEMO_PASSWORD is not set: it is {DemoUserSettings.model_fields['password'].description}.")


async def main(argv: list[str]) -> None:
    url = argv[0] if argv else ServiceSettings().loris_database_url
    if not url:
        sys.exit("give the LORIS database's URL (mysql://user:password@host:3306/loris), "
                 "or set UPLOADER_LORIS_DATABASE_URL")
    password = demo_password()
    pool = await open_loris_pool(url, max_size=1)
    try:
        async with pool.acquire() as conn:
            await load_demo_project(conn, password)
    finally:
        pool.close()
        await pool.wait_closed()
    print(f"LORIS demo project loaded: {len(SITES)} sites, {len(CANDIDATES)} candidates, "
          f"user '{DEMO_USERNAME}' with the password from UPLOADER_DEMO_PASSWORD")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
