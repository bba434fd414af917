"""Reading a text/event-stream as a client sees it on the wire: block by block
(an event, a lone `retry:`, or a comment such as a ping)."""

import asyncio
import json
from dataclasses import dataclass

import aiohttp


@dataclass
class Block:
    event: str | None = None
    data: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def json(self):
        return json.loads(self.data)


class EventReader:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 10, *, comments: bool = False) -> Block | None:
        """The next block (comments skipped unless asked), or None once the server closed the stream."""
        async with asyncio.timeout(timeout):
            while (block := await self._block()) is not None and block.comment is not None and not comments:
                pass
        return block

    async def until(self, event: str, timeout: float = 10) -> list[Block]:
        """The blocks up to the first `event` one, included."""
        blocks = []
        while not blocks or blocks[-1].event != event:
            block = await self.next(timeout)
            assert block is not None, f"the stream closed before a {event!r} event; got {blocks}"
            blocks.append(block)
        return blocks

    async def _block(self) -> Block | None:
        block = Block()
        while raw := await self.response.content.readline():
            line = raw.decode().rstrip("\r\n")
            if not line:
                if block != Block():
                    return block
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                block.comment = value
            elif name == "data":
                block.data = value if block.data is None else f"{block.data}\n{value}"
            elif name == "retry":
                block.retry = int(value)
            elif name in ("event", "id"):
                setattr(block, name, value)
        return None if block == Block() else block
