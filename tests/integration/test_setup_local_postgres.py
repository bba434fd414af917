"""scripts/setup.sh never weakens the host's PostgreSQL. On a server set up as
Debian sets it up (peer on the socket, scram-sha-256 over TCP, so `postgres`
cannot connect over TCP without a password), it makes a role of the
uploader's own with a generated password kept in var/, and leaves
pg_hba.conf as it was. Run against a private cluster, never the shared one."""

import os
import re
import stat
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.support.private_servers import PrivatePostgres
from tests.support.stack import REPO_ROOT


@pytest.fixture
def debian_postgres():
    with PrivatePostgres(debian_authentication=True) as postgres:
        yield postgres


def run_setup_step(postgres: PrivatePostgres, password_file: Path, step: str, **env: str) -> str:
    """One step of setup.sh (sourced, so that main does not run), against the private cluster."""
    done = subprocess.run(
        ["bash", "-c", f"source scripts/setup.sh && {step}"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120, env={**os.environ, "PG_PORT": str(postgres.port), "PG_SOCKET_DIR": str(postgres.dir),
                          "PG_PASSWORD_FILE": str(password_file), **env})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def connects(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return False
    await conn.close()
    return True


async def test_setup_makes_the_uploader_a_role_with_a_generated_password_and_leaves_pg_hba_alone(
        debian_postgres, tmp_path):
    hba = debian_postgres.data_dir / "pg_hba.conf"
    hba_before = hba.read_text()
    password_file = tmp_path / "var" / "postgres-password"

    said = run_setup_step(debian_postgres, password_file, "setup_postgres")

    password = password_file.read_text()
    assert "making a role" in said and f"password generated into {password_file}" in said
    assert hba.read_text() == hba_before
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert re.fullmatch("[0-9a-f]{48}", password)
    assert await connects(f"postgresql://uploader:{password}@127.0.0.1:{debian_postgres.port}/postgres")
    assert not await connects(f"postgresql://postgres@127.0.0.1:{debian_postgres.port}/postgres")
    assert not await connects(f"postgresql://uploader:wrong@127.0.0.1:{debian_postgres.port}/postgres")


async def test_a_second_setup_keeps_the_password_and_the_database_is_the_uploader_s(debian_postgres, tmp_path):
    password_file = tmp_path / "var" / "postgres-password"
    run_setup_step(debian_postgres, password_file, "setup_postgres")
    password = password_file.read_text()

    said = run_setup_step(debian_postgres, password_file, "setup_postgres && setup_database",
                          UPLOADER_DB_NAME="uploader_setup_test")

    assert password_file.read_text() == password
    assert f"the scripts connect as role uploader (its password is in {password_file})" in said
    conn = await asyncpg.connect(f"postgresql://uploader:{password}@127.0.0.1:{debian_postgres.port}/postgres")
    try:
        owner = await conn.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
                                    "uploader_setup_test")
        superuser = await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = 'uploader'")
    finally:
        await conn.close()
    assert (owner, superuser) == ("uploader", False)
