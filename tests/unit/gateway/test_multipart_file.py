import random

import pytest

from services.gateway.uploads.multipart_file import IncompletePart, stream_part_body

BOUNDARY = "----formboundary7MA4YWxkTrZu0gW"


class ChunkedContent:
    """Gives back a body in the chunk sizes a network would."""

    def __init__(self, body: bytes, sizes: list[int]) -> None:
        self._body = body
        self._sizes = sizes

    async def read(self, limit: int) -> bytes:
        if not self._body:
            return b""
        size = min(self._sizes.pop(0) if self._sizes else limit, limit)
        piece, self._body = self._body[:size], self._body[size:]
        return piece


async def _received(body: bytes, sizes: list[int], chunk_bytes: int = 64) -> bytes:
    out = bytearray()
    await stream_part_body(ChunkedContent(body, sizes), BOUNDARY, out.extend, chunk_bytes)
    return bytes(out)


def _part_then_rest(file_bytes: bytes) -> bytes:
    return file_bytes + f"\r\n--{BOUNDARY}--\r\n".encode()


async def test_the_file_bytes_stop_exactly_before_the_closing_boundary():
    data = bytes(range(256)) * 3
    assert await _received(_part_then_rest(data), []) == data


@pytest.mark.parametrize("seed", range(40))
async def test_a_boundary_split_across_any_chunk_edges_is_still_found(seed):
    rng = random.Random(seed)
    data = rng.randbytes(rng.randint(0, 300)) + b"\r\n--" + BOUNDARY.encode()[:-1] + b"X\r\n"  # a near-boundary in the data
    sizes = [rng.randint(1, 70) for _ in range(200)]
    assert await _received(_part_then_rest(data), sizes) == data


async def test_crlf_and_dashes_inside_the_file_are_kept():
    data = b"\r\n--\r\n--" + b"-" * 50 + b"\r\n"
    assert await _received(_part_then_rest(data), [3, 5, 7]) == data


async def test_an_empty_file_part_gives_no_bytes():
    assert await _received(_part_then_rest(b""), [1, 1, 1]) == b""


async def test_a_body_that_ends_without_the_boundary_is_incomplete():
    with pytest.raises(IncompletePart):
        await _received(b"some bytes and then the client went away", [10])


@pytest.mark.parametrize("sizes", [[], [1] * 200, [7, 3, 50]], ids=["whole", "one-byte", "uneven"])
async def test_the_bytes_read_past_the_delimiter_are_given_back(sizes):
    body = b"file bytes" + f"\r\n--{BOUNDARY}--\r\n".encode()
    content = ChunkedContent(body, sizes)

    rest = await stream_part_body(content, BOUNDARY, bytearray().extend, 64)

    assert rest + content._body == b"--\r\n", "what was read past the delimiter, then what is left unread"
