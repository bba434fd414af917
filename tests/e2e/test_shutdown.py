"""Every service stops cleanly and promptly on SIGTERM, as `docker stop` and `make run`'s Ctrl-C ask, even
while RabbitMQ or PostgreSQL is away (a broker call at shutdown waits for a reconnection that may never come)."""

import asyncio
import signal
import time
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.integration.helpers import eventually
from tests.support.stack import SERVICES, ServiceStack
from tests.support.tcp_proxy import TcpProxy


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_exits_with_status_0_within_seconds_of_sigterm(stack, service):
    started = time.monotonic()
    status = stack.stop_service(service, signal.SIGTERM, timeout=20)
    assert status == 0, stack.log_tail(service)
    assert time.monotonic() - started < 15
    assert '"level": "ERROR"' not in stack.log_tail(service, 200)
    stack.start_service(service)
    stack.wait_healthy(service)


@pytest.mark.parametrize("server", ["broker", "database"])
async def test_every_service_stops_within_seconds_of_sigterm_while_a_server_is_away(service_env, tmp_path, server):
    setting = "UPLOADER_AMQP_URL" if server == "broker" else "UPLOADER_DATABASE_URL"
    async with TcpProxy("127.0.0.1", urlsplit(service_env[setting]).port) as proxy:
        away_stack = ServiceStack({**service_env, setting: proxy.through(service_env[setting])}, tmp_path)
        await asyncio.to_thread(away_stack.start)
        try:
            await proxy.cut()
            await until_every_service_finds_away(away_stack, server)
            started = time.monotonic()
            statuses = await asyncio.gather(*(asyncio.to_thread(away_stack.stop_service, name, signal.SIGTERM, 30)
                                              for name in SERVICES))
        finally:
            await asyncio.to_thread(away_stack.stop)
    assert statuses == [0] * len(SERVICES), {name: away_stack.log_tail(name) for name in SERVICES}
    assert time.monotonic() - started < 15


async def until_every_service_finds_away(stack: ServiceStack, server: str) -> None:
    """Until each service noticed that the server went: its readiness check finds no database; the broker
    client logs its first failed reconnection (the broker connection reconnects by itself, and /readyz checks
    only that it was not closed)."""

    async def database_away(http: aiohttp.ClientSession, name: str) -> bool:
        async with http.get(f"http://127.0.0.1:{stack.ports[name]}/readyz") as answer:
            return answer.status == 503 and (await answer.json())["checks"]["database"] is False

    async def broker_away(_http: aiohttp.ClientSession, name: str) -> bool:
        return "Connection attempt to" in stack.log_tail(name, 200)

    finds_away = database_away if server == "database" else broker_away
    async with aiohttp.ClientSession() as http:
        for name in SERVICES:
            await eventually(lambda name=name: finds_away(http, name), 30, f"{name} finding the {server} away")
