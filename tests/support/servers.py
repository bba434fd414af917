"""A database and a RabbitMQ vhost of its own for each test run, on the real servers.

The tests connect to the local PostgreSQL as the scripts do (scripts/local_postgres.sh): as the role
`uploader` with the password in var/postgres-password once setup.sh made it (where `postgres` needs a
password), else as `postgres`."""

import shutil
import subprocess
import uuid
from pathlib import Path

import asyncpg

PASSWORD_FILE = Path(__file__).resolve().parents[2] / "var" / "postgres-password"
AMQP_BASE = "amqp://guest:guest@127.0.0.1:5672"


def local_postgres_url(database: str) -> str:
    credentials = f"uploader:{PASSWORD_FILE.read_text().strip()}" if PASSWORD_FILE.exists() else "postgres"
    return f"postgresql://{credentials}@127.0.0.1:5432/{database}"


POSTGRES_ADMIN_URL = local_postgres_url("postgres")


def new_run_name() -> str:
    return f"uploader_test_{uuid.uuid4().hex[:10]}"


async def create_database(name: str) -> str:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return local_postgres_url(name)


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _rabbitmqctl(*args: str) -> None:
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl is not installed: run scripts/setup.sh first")
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(name: str) -> str:
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"{AMQP_BASE}/{name}"


def delete_vhost(name: str) -> None:
    _rabbitmqctl("delete_vhost", name)
