"""The LORIS database's connections (services/common/loris_connections.py) on the real MariaDB: a connection
lost in use never strands the next user, and a service stops even while a connection is in use."""

import asyncio

import pymysql

from services.common.loris_connections import LorisConnections
from services.common.loris_db import POOL_MAX_SIZE, LorisDatabaseAway


async def use_until_killed(connections: LorisConnections, held: asyncio.Event, holders: list[int]) -> None:
    """Hold a connection until the server kills it (as a restart or a timeout would)."""
    async with connections.connection() as conn, conn.cursor() as cursor:
        await cursor.execute("SELECT CONNECTION_ID()")
        holders.append((await cursor.fetchone())[0])
        if len(holders) == POOL_MAX_SIZE:
            held.set()
        await cursor.execute("SELECT SLEEP(30)")
        await cursor.fetchall()


async def select_one(connections: LorisConnections) -> int:
    async with connections.connection() as conn, conn.cursor() as cursor:
        await cursor.execute("SELECT 1")
        return (await cursor.fetchone())[0]


async def kill(connections: LorisConnections, connection_id: int) -> None:
    async with connections.connection() as conn, conn.cursor() as cursor:
        await cursor.execute("KILL %s", (connection_id,))


async def test_a_user_waiting_while_every_connection_is_lost_gets_one(loris_database_url):
    connections = LorisConnections(loris_database_url)
    killer = LorisConnections(loris_database_url)
    held, holders = asyncio.Event(), []
    try:
        users = [asyncio.create_task(use_until_killed(connections, held, holders)) for _ in range(POOL_MAX_SIZE)]
        await asyncio.wait_for(held.wait(), 10)
        waiting = asyncio.create_task(select_one(connections))  # one user more than the pool holds

        for connection_id in holders:
            await kill(killer, connection_id)
        outcomes = await asyncio.gather(*users, return_exceptions=True)

        assert all(isinstance(o, (LorisDatabaseAway, pymysql.err.MySQLError)) for o in outcomes), outcomes
        assert await asyncio.wait_for(waiting, 10) == 1
    finally:
        await killer.close()
        await connections.close()


async def test_closing_while_a_connection_is_in_use_ends_at_once(loris_database_url):
    connections = LorisConnections(loris_database_url)
    held, holders = asyncio.Event(), []
    users = [asyncio.create_task(use_until_killed(connections, held, holders)) for _ in range(POOL_MAX_SIZE)]
    await asyncio.wait_for(held.wait(), 10)

    await asyncio.wait_for(connections.close(), 5)

    for user in users:
        user.cancel()
    await asyncio.gather(*users, return_exceptions=True)

