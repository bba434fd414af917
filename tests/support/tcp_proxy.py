"""A TCP proxy a test can cut, to take a server away from one service without
stopping the server that the rest of the test run shares.

    async with TcpProxy("127.0.0.1", 5432) as proxy:   # listens on proxy.port
        ...                                             # point the service at proxy.through(url)
        await proxy.cut()       # every connection through it drops; new ones are refused
        await proxy.restore()   # it accepts again, on the same port
"""

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

from tests.support.stack import free_port


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> "TcpProxy":
        await self.restore()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.cut()

    def through(self, url: str) -> str:
        """The server's URL (postgresql://, amqp://) leading through this proxy: credentials and path kept."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        address = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{credentials}@{address}" if credentials else address))

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        for source, target in ((client_reader, server_writer), (server_reader, client_writer)):
            pipe = asyncio.create_task(_pipe(source, target))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            target.write(data)
            await target.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            target.transport.abort()
