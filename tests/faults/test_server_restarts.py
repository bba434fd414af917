"""RabbitMQ restarted, and PostgreSQL restarted, while a stream of uploads flows: every accepted upload
ends in Success, none lost, no overlapping run, no log line twice. Each restarts a server of the test's
own (tests/support/private_servers.py); the shared servers are never touched."""

import asyncio

import asyncpg
import pytest

from services.common.db import open_pool
from tests.faults.conftest import (demo_client, fault_env, numbered_pipeline_command, prepare_database,
                                   until_a_run_is_running)
from tests.support.fault_accounting import UploadStream, account
from tests.support.fault_stack import FaultStack
from tests.support.private_servers import PrivatePostgres, PrivateRabbitMQ

LINES, DELAY = 5, 0.1
RABBITMQ_DOWN_SECONDS = 2
# Longer than a run's staleness (3 heartbeats of 1 s): no launcher can beat while the database is away.
POSTGRES_DOWN_SECONDS = 4


@pytest.fixture
def private_rabbitmq():
    with PrivateRabbitMQ() as node:
        yield node


@pytest.fixture
def private_postgres():
    with PrivatePostgres() as cluster:
        yield cluster


async def flow_and_account(database_url: str, amqp_url: str, tmp_path, http, archives, restart, what: str,
                           down: float):
    """Run the stack on these servers, send uploads, call `restart(down)` (blocking) once they flow and a
    pipeline runs, and check them."""
    ledger = tmp_path / "ledger"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = fault_env(database_url, amqp_url, tmp_path, numbered_pipeline_command(ledger, LINES, DELAY))
    with FaultStack(env, logs) as stack:
        client = demo_client(http, stack)
        notes = [f"service logs in {logs}"]
        stream = UploadStream(client, archives(30), interval=0.5)
        pool = await open_pool(database_url)  # asyncpg reconnects it after a restart
        try:
            async with stream:
                await stream.wait_accepted(4)
                if not await until_a_run_is_running(pool):
                    notes.append("no run was running when the server stopped")
                notes.append(f"{what} stopped at {stream.elapsed():.1f} s, for {down} s")
                await asyncio.to_thread(restart, down)
                notes.append(f"{what} back at {stream.elapsed():.1f} s")
            report = await account(client, stream, pool=pool, ledger=ledger, lines_per_run=LINES, notes=notes)
        finally:
            await pool.close()
    report.assert_clean(f"{what} restarted", min_accepted=len(stream.sent) // 2)


async def test_a_rabbitmq_restart_while_uploads_flow(module_servers, private_rabbitmq, tmp_path, http, archives):
    database_url, _ = module_servers
    await flow_and_account(database_url, private_rabbitmq.amqp_url, tmp_path, http, archives,
                           private_rabbitmq.restart, "RabbitMQ", RABBITMQ_DOWN_SECONDS)


async def test_a_postgresql_restart_while_uploads_flow(module_servers, private_postgres, tmp_path, http, archives):
    _, amqp_url = module_servers
    conn = await asyncpg.connect(private_postgres.url("postgres"))
    try:
        await conn.execute("CREATE DATABASE uploader")
    finally:
        await conn.close()
    database_url = private_postgres.url("uploader")
    await prepare_database(database_url)
    await flow_and_account(database_url, amqp_url, tmp_path, http, archives, private_postgres.restart,
                           "PostgreSQL", POSTGRES_DOWN_SECONDS)
