"""A file's bytes typed by their leading bytes and counted (services.gateway.uploads.checked_file),
however small the pieces the network gives them in."""

import gzip
import io
import zipfile

import pytest

from services.common.scan_store import DirectoryScanStore
from services.gateway.uploads.checked_file import CheckedFile
from services.gateway.uploads.multipart_file import stream_part_body
from services.gateway.uploads.upload_rules import UploadRefused

BOUNDARY = "one-byte"


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan.dcm", b"DICM" * 50)
    return buffer.getvalue()


class OneByteAtATime:
    """Gives back a body one byte per read, as a slow network may."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self, limit: int) -> bytes:
        piece, self._body = self._body[:1], self._body[1:]
        return piece


async def receive(tmp_path, file_name: str, content: bytes, max_bytes: int = 10**6) -> bytes:
    pending = DirectoryScanStore(tmp_path).begin()
    checked = CheckedFile(pending, file_name, max_bytes)
    body = content + f"\r\n--{BOUNDARY}--\r\n".encode()
    await stream_part_body(OneByteAtATime(body), BOUNDARY, checked.write, 64)
    checked.finish()
    await pending.flush_to_disk()
    return pending.path.read_bytes()


@pytest.mark.parametrize(("file_name", "content"), [("scan.zip", zip_bytes()), ("scan.tgz", gzip.compress(b"x" * 500))])
async def test_an_archive_arriving_one_byte_at_a_time_is_typed_by_its_leading_bytes_and_kept_whole(tmp_path, file_name, content):
    assert await receive(tmp_path, file_name, content) == content


@pytest.mark.parametrize(("file_name", "content", "kind"),
                         [("scan.tgz", zip_bytes(), "a gzip-compressed"), ("scan.zip", gzip.compress(b"x"), "a zip")])
async def test_content_of_the_other_type_arriving_one_byte_at_a_time_is_refused(tmp_path, file_name, content, kind):
    with pytest.raises(UploadRefused) as refused:
        await receive(tmp_path, file_name, content)

    [failure] = refused.value.failures
    assert (failure.code, failure.message) == ("content_type_mismatch",
                                               f"The content of {file_name} is not {kind} archive, as its name says.")


async def test_a_file_shorter_than_the_sniffed_bytes_is_typed_at_its_end(tmp_path):
    assert await receive(tmp_path, "scan.tgz", b"\x1f\x8b") == b"\x1f\x8b"


async def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(UploadRefused) as refused:
        await receive(tmp_path, "scan.tgz", b"")

    assert refused.value.failures[0].message == "File scan.tgz is empty."


async def test_a_file_past_the_maximum_is_refused_as_too_large(tmp_path):
    with pytest.raises(UploadRefused) as refused:
        await receive(tmp_path, "scan.tgz", gzip.compress(bytes(range(256)) * 40), max_bytes=100)

    assert refused.value.failures[0].code == "file_too_large"
