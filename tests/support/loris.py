"""A LORIS database of its own for each test run, on the local MariaDB (127.0.0.1:3306), with the stand-in LORIS
tables. The tests administer it as the user scripts/setup.sh --with-loris makes for them (root may connect only on
the server's socket, as on a fresh Debian)."""

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomysql

from loris_standin.demo import load_demo_project
from loris_standin.tables import load_tables

REPO_ROOT = Path(__file__).resolve().parents[2]

MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306
MARIADB_ADMIN_USER_FILE = REPO_ROOT / "var" / "mariadb-admin-user"
MARIADB_ADMIN_PASSWORD_FILE = REPO_ROOT / "var" / "mariadb-admin-password"


def admin_user() -> str:
    return MARIADB_ADMIN_USER_FILE.read_text().strip()


def admin_password() -> str:
    return MARIADB_ADMIN_PASSWORD_FILE.read_text().strip()


def loris_url(database: str, user: str | None = None, password: str | None = None) -> str:
    """The URL of a LORIS database: as the tests' administrator unless a user (and password) is given."""
    if user is None:
        user, password = admin_user(), admin_password()
    credentials = f"{user}:{password}" if password else user
    return f"mysql://{credentials}@{MARIADB_HOST}:{MARIADB_PORT}/{database}"


async def connect_as_admin(database: str | None = None, port: int | None = None) -> aiomysql.Connection:
    """As the tests' administrator of the local MariaDB; or as root of a test's own server on `port`
    (PrivateMariaDB, whose root needs no password)."""
    user, password = (admin_user(), admin_password()) if port is None else ("root", "")
    return await aiomysql.connect(host=MARIADB_HOST, port=port or MARIADB_PORT, user=user, password=password,
                                  db=database, charset="utf8mb4", autocommit=True)


async def create_loris_database(name: str, port: int | None = None) -> str:
    """Creates the database `name` with the LORIS tables; its URL, as the administrator (root on `port`)."""
    conn = await connect_as_admin(port=port)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            await cursor.execute(f"USE `{name}`")
            await load_tables(cursor)
    finally:
        conn.close()
    return loris_url(name) if port is None else f"mysql://root@{MARIADB_HOST}:{port}/{name}"


async def create_demo_loris_database(name: str, password: str | None = None, port: int | None = None) -> None:
    """Creates the database `name` with the LORIS tables and the demo project (its user's password a random one
    unless given), on the local MariaDB or a test's own on `port`."""
    await create_loris_database(name, port)
    conn = await connect_as_admin(name, port)
    try:
        await load_demo_project(conn, password or f"demo-{uuid.uuid4().hex}")
    finally:
        conn.close()


async def execute_as_admin(database: str | None, statement: str, *args) -> None:
    """One statement as the tests' administrator, on `database` (none: the server's)."""
    conn = await connect_as_admin(database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement, args or None)
    finally:
        conn.close()


async def drop_loris_database(name: str) -> None:
    await execute_as_admin(None, f"DROP DATABASE IF EXISTS `{name}`")


def run_local_mariadb_step(step: str, **env: str) -> str:
    """One function of scripts/local_mariadb.sh, run as setup.sh runs it (from the repository's root); its output."""
    done = subprocess.run(["bash", "-c", f"source scripts/local_mariadb.sh && {step}"], check=False, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@contextlib.contextmanager
def uploader_user_of(database: str, password_file: Path, server: dict[str, str] | None = None) -> Iterator[str]:
    """A MariaDB user of the run's own, made and granted as setup.sh makes the uploader's in `database`; its URL.
    The user is dropped after. `server`: the mariadb client's variables for another server than the local one
    (PrivateMariaDB.client_environment())."""
    user = f"uploader_{uuid.uuid4().hex[:8]}"
    env = {"LORIS_DB_USER": user, "LORIS_PASSWORD_FILE": str(password_file), **(server or {})}
    run_local_mariadb_step(f"make_loris_user {database}", **env)
    try:
        yield run_local_mariadb_step(f"local_loris_url {database}", **env)
    finally:
        run_local_mariadb_step(f"as_mariadb_admin -e \"DROP USER IF EXISTS '{user}'@'127.0.0.1', '{user}'@'localhost'\"",
                               **env)
