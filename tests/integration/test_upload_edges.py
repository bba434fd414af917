"""Uploads at their edges, through the in-process gateway: a file part sent
one byte at a time is still accepted whole (or refused when its content is
not of its type), and an upload is never missing from the user's view right
after its 202, even when the read side has not recorded it yet.

The server's first read of the file may gather several bytes however the
client sends them; tests/unit/gateway/test_checked_file.py feeds the type
check one byte per read."""

import asyncio
import uuid

import pytest

from tests.conftest import DEMO_TOKEN
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive

FIELDS = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}


@pytest.fixture
async def gateway_url(gateway_stack):
    async with gateway_stack() as (url, _):
        yield url


async def send_one_byte_at_a_time(gateway_url: str, file_name: str, content: bytes) -> tuple[int, bytes]:
    """POST an upload whose file part is written to the socket one byte per write; returns (status, body)."""
    boundary = "one-byte-at-a-time"
    fields = "".join(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        for name, value in FIELDS.items()
    )
    head = (fields + f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    host, port = gateway_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write((
            "POST /api/v1/uploads HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nAuthorization: Bearer {DEMO_TOKEN}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + len(content) + len(tail)}\r\nConnection: close\r\n\r\n"
        ).encode() + head)
        await writer.drain()
        # No wait here: the gateway cannot read past the last field before the file's first bytes come (its
        # multipart reader looks one boundary's length ahead), so those bytes trickle in as the rest do.
        for byte in content:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.001)  # a slow client: each byte in a packet of its own
        writer.write(tail)
        await writer.drain()
        async with asyncio.timeout(30):
            answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("ending", [".zip", ".tgz"])
async def test_an_archive_sent_one_byte_at_a_time_is_typed_by_its_leading_bytes_and_accepted(
    gateway_url, tmp_path, incoming_path, ending
):
    path = make_dicom_archive(tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}{ending}", "MTL0001_300001_V1", n_files=1)

    status, body = await send_one_byte_at_a_time(gateway_url, path.name, path.read_bytes())

    assert status == 202, body
    assert [p.read_bytes() for p in incoming_path.rglob(path.name)] == [path.read_bytes()]


async def test_a_tgz_of_zip_bytes_sent_one_byte_at_a_time_is_refused_with_415(gateway_url, tmp_path):
    zipped = make_dicom_archive(tmp_path / "x.zip", "MTL0001_300001_V1", n_files=1).read_bytes()

    status, body = await send_one_byte_at_a_time(gateway_url, f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz", zipped)

    assert status == 415 and b"content_type_mismatch" in body


# --- the user's view right after a 202 ------------------------------------------------------


async def test_right_after_a_202_the_upload_its_log_and_runs_answer_not_started(gateway_before_the_read_side, http,
                                                                              tmp_path, incoming_path):
    client = UploaderClient(http, gateway_before_the_read_side, DEMO_TOKEN)
    path = make_dicom_archive(tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz", "MTL0001_300001_V1", n_files=1)
    accepted = await client.upload(path, **FIELDS)
    upload_id = (await accepted.json())["upload_id"]

    summary = await client.get(f"/api/v1/uploads/{upload_id}")
    log = await client.get(f"/api/v1/uploads/{upload_id}/log", after="0")
    runs = await client.get(f"/api/v1/uploads/{upload_id}/runs")
    unknown = await client.get("/api/v1/uploads/999999999")

    assert (summary.status, log.status, runs.status, unknown.status) == (200, 200, 200, 404)
    body = await summary.json()
    assert (body["upload_id"], body["progress"], body["file_name"], body["attempt"]) == (upload_id, "Not Started", path.name, 1)
    assert (body["candid"], body["pscid"], body["visit_label"], body["site"]) == ("300001", "MTL0001", "V1", "MTL")
    assert body["size_bytes"] == path.stat().st_size and body["uploaded_by"] == "demo"
    assert body["upload_location"] == str(incoming_path.resolve() / f"demo/{upload_id}/attempt-1/{path.name}")
    assert await log.json() == {"upload_id": upload_id, "attempt": 1, "progress": "Not Started",
                                "status": "The pipeline has not run yet.", "mode": "summary", "last_line_id": 0,
                                "more": False, "lines": []}
    assert await runs.json() == {"upload_id": upload_id, "runs": []}
