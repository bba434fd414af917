"""Streaming the body of a multipart file part straight to a sink.

aiohttp's part reader joins each chunk to the previous one to look for the
boundary, which copies every byte of a multi-gigabyte upload twice more. Here
only the last few bytes of a chunk are kept back, in case the boundary starts
there, and the rest goes to the sink as a view, without a copy.
"""

from collections.abc import Callable

from aiohttp import StreamReader

Sink = Callable[[bytes | memoryview], None]


class IncompletePart(Exception):
    """The request ended before the part's closing boundary."""


async def stream_part_body(content: StreamReader, boundary: str, sink: Sink, chunk_bytes: int) -> bytes:
    """Pass everything up to the next `CRLF--boundary` to sink; the part's headers are already read.
    Returns the bytes read past that delimiter (`--` first when the part was the last)."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    keep = len(delimiter) - 1
    tail = b""
    while chunk := await content.read(chunk_bytes):
        border = tail + chunk[:keep]
        found = border.find(delimiter)
        if found >= 0:
            _give(sink, border[:found])
            return (tail + chunk)[found + len(delimiter):]
        found = chunk.find(delimiter)
        if found >= 0:
            _give(sink, tail)
            _give(sink, memoryview(chunk)[:found])
            return chunk[found + len(delimiter):]
        if len(chunk) > keep:
            _give(sink, tail)
            _give(sink, memoryview(chunk)[:-keep])
            tail = chunk[-keep:]
        else:
            tail += chunk
            _give(sink, tail[:-keep])
            tail = tail[-keep:]
    raise IncompletePart("the request ended before the file was complete")


def _give(sink: Sink, data: bytes | memoryview) -> None:
    if len(data):
        sink(data)
