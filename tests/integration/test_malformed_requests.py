"""Malformed requests are refused with a 4xx and the JSON error body, never a
500: each case here is one the API fuzzer (tests/integration/test_api_schema.py)
found, or one of its kind, sent to the gateway in-process (with a logstore and
a validator behind it) exactly as the bytes go on the wire."""

import asyncio
from urllib.parse import urlsplit

import aiohttp
import pytest

from services.common.api_models import MAX_ID
from tests.conftest import DEMO_TOKEN

AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}
BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
ZIP_BYTES = b"PK\x05\x06" + bytes(18)
ID_ROUTES = [("GET", "/api/v1/uploads/{}"), ("GET", "/api/v1/uploads/{}/log"), ("GET", "/api/v1/uploads/{}/runs"),
             ("POST", "/api/v1/uploads/{}/launch")]


@pytest.fixture
async def gateway_url(gateway_stack):
    async with gateway_stack(max_upload_bytes=64 * 1024) as (url, _):
        yield url


async def refusal(answer: aiohttp.ClientResponse, status: int = 400) -> list[dict]:
    """The errors of a refusal with this status, checked to be the API's error body."""
    body = await answer.json()
    assert answer.status == status, body
    assert answer.content_type == "application/json"
    assert set(body) == {"error", "errors"} and body["error"] == body["errors"][0], body
    assert all(set(error) == {"code", "message", "field"} for error in body["errors"]), body
    return body["errors"]


def form(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    """A multipart body of these raw parts (each its header lines, a blank line, and its content)."""
    delimiter = b"--" + boundary.encode()
    return b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"


PHANTOM = b'Content-Disposition: form-data; name="is_phantom"\r\n\r\ntrue'


def file_part(disposition: bytes) -> bytes:
    return b"Content-Disposition: form-data; " + disposition + b"\r\n\r\n" + ZIP_BYTES


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("multipart/form-data", form(PHANTOM, file_part(b'name="file"; filename="a.zip"')),
                     id="no-boundary"),
        pytest.param(MULTIPART, f"--{BOUNDARY}\r\nNone--{BOUNDARY}--\r\n".encode(), id="part-header-not-a-header"),
        pytest.param(MULTIPART, form(b'Content-Disposition: form-data; name="Y:\xc2\x8e\x04%0D\xf2\x96\x83\x80"\r\n\r\nx'),
                     id="part-header-with-control-bytes"),
        pytest.param(MULTIPART, form(b"X-Long: " + b"x" * 10_000 + b'\r\nContent-Disposition: form-data; name="candid"'
                                     b"\r\n\r\n300001"), id="part-header-too-long"),
        pytest.param(MULTIPART, form(b'Content-Disposition: form-data; name="\xff\xfe"\r\n\r\nx'),
                     id="part-name-not-utf8"),
        pytest.param(MULTIPART, form(PHANTOM, file_part(b'name="file"; filename="\xff\xfe.zip"')),
                     id="file-name-not-utf8"),
        pytest.param(MULTIPART, form(PHANTOM, file_part(b"name=\"file\"; filename*=UTF-8''a%00b.zip")),
                     id="file-name-with-nul"),
        pytest.param(MULTIPART, form(b'Content-Type: multipart/mixed\r\nContent-Disposition: form-data; name="x"'
                                     b"\r\n\r\nx"), id="nested-multipart-without-boundary"),
        pytest.param(MULTIPART, form(b'Content-Type: multipart/mixed; boundary=inner\r\nContent-Disposition: '
                                     b'form-data; name="x"\r\n\r\n--inner\r\n\r\nx\r\n--inner--'),
                     id="nested-multipart"),
        pytest.param(MULTIPART, form(b'Content-Disposition: form-data; name="_charset_"\r\n\r\n\xff\xfe'),
                     id="charset-part-not-text"),
        pytest.param("multipart/form-data; boundary=\u20ac", form(PHANTOM, file_part(b'name="file"; filename="a.zip"'),
                                                               boundary="\u20ac"), id="boundary-not-ascii"),
    ],
)
async def test_a_malformed_multipart_upload_is_a_400_that_says_so(gateway_url, http, pool, content_type, body):
    uploads_before = await pool.fetchval("SELECT count(*) FROM gateway.uploads")

    answer = await http.post(f"{gateway_url}/api/v1/uploads", data=body,
                             headers={**AUTH, "Content-Type": content_type})

    errors = await refusal(answer)
    assert [e["code"] for e in errors] == ["malformed_multipart"]
    assert errors[0]["message"].startswith("The multipart/form-data body is malformed (")
    assert await pool.fetchval("SELECT count(*) FROM gateway.uploads") == uploads_before


async def test_a_well_formed_upload_with_the_same_parts_is_accepted(gateway_url, http):
    """The bodies above differ from this one only where they are malformed."""
    body = form(PHANTOM, b'Content-Disposition: form-data; name="overwrite"\r\n\r\ntrue',
                file_part(b'name="file"; filename="phantom_malformed_requests.zip"'))

    answer = await http.post(f"{gateway_url}/api/v1/uploads", data=body, headers={**AUTH, "Content-Type": MULTIPART})

    assert answer.status == 202, await answer.text()


@pytest.mark.parametrize("upload_id", ["0", str(MAX_ID + 1), str(2**64), str(10**30), "9" * 5000, "-1", "1.0", "\u0661"])
@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
async def test_an_upload_id_outside_1_to_2_63_is_a_400(gateway_url, http, method, route, upload_id):
    answer = await http.request(method, gateway_url + route.format(upload_id), headers=AUTH)

    errors = await refusal(answer)
    assert [(e["code"], e["field"]) for e in errors] == [("invalid_upload_id", "upload_id")]


@pytest.mark.parametrize("upload_id", [str(MAX_ID), "0" * 30 + str(MAX_ID)])
@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
async def test_the_largest_upload_id_is_valid_and_unknown(gateway_url, http, method, route, upload_id):
    answer = await http.request(method, gateway_url + route.format(upload_id), headers=AUTH)

    assert [e["code"] for e in await refusal(answer, 404)] == ["unknown_upload"]


@pytest.mark.parametrize("name", ["candid", "pscid", "visit_label", "site"])
async def test_a_nul_character_in_a_browse_filter_is_a_400(gateway_url, http, name):
    answer = await http.get(f"{gateway_url}/api/v1/uploads", params={name: "MTL\x00"}, headers=AUTH)

    errors = await refusal(answer)
    assert [(e["field"], e["message"]) for e in errors] == [(name, f"{name}: must not contain a NUL character.")]


async def test_a_browse_filter_reaches_the_logstore_as_it_was_sent(gateway_url, http):
    answer = await http.get(f"{gateway_url}/api/v1/uploads", params={"candid": "MTL#0001\x00"}, headers=AUTH)

    assert [e["field"] for e in await refusal(answer)] == ["candid"]


@pytest.mark.parametrize(
    "query",
    [{"page": str(10**30)}, {"page": "1000001"}, {"page_size": str(2**63)}, {"page": "0"}, {"page": "1e3"},
     {"is_phantom": "maybe"}, {"progress": "Done"}],
)
async def test_a_browse_page_or_filter_out_of_range_is_a_400(gateway_url, http, query):
    answer = await http.get(f"{gateway_url}/api/v1/uploads", params=query, headers=AUTH)

    assert [e["field"] for e in await refusal(answer)] == list(query)


async def test_the_last_browse_page_asked_for_is_answered(gateway_url, http):
    answer = await http.get(f"{gateway_url}/api/v1/uploads", params={"page": "1000000", "page_size": "500"},
                            headers=AUTH)

    assert answer.status == 200, await answer.text()
    assert (await answer.json())["items"] == []


@pytest.mark.parametrize("after", [str(MAX_ID + 1), str(10**30), "-1"])
async def test_a_log_cursor_beyond_64_bits_is_a_400(gateway_url, http, after):
    answer = await http.get(f"{gateway_url}/api/v1/uploads/1/log", params={"after": after}, headers=AUTH)

    assert [e["field"] for e in await refusal(answer)] == ["after"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"file_name": "MTL0001_300001_V1\x00.tgz"}, "file_name"),
        ({"candid": "300001\x00"}, "candid"),
        ({"pscid": "\x00"}, "pscid"),
        ({"visit_label": "V1\x00"}, "visit_label"),
        ({"file_size": False}, "file_size"),
        ({"file_size": "100"}, "file_size"),
        ({"file_size": 2**63}, "file_size"),
        ({"is_phantom": "true"}, "is_phantom"),
        ({"overwrite": 1}, "overwrite"),
    ],
)
async def test_a_check_body_with_a_nul_character_or_a_value_of_the_wrong_type_is_a_400(gateway_url, http, changes,
                                                                                     field):
    body = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1", "is_phantom": False, "overwrite": False,
            "file_name": "MTL0001_300001_V1.tgz", "file_size": 100, **changes}

    answer = await http.post(f"{gateway_url}/api/v1/uploads/check", json=body, headers=AUTH)

    assert [e["field"] for e in await refusal(answer)] == [field]


async def test_a_nul_character_in_an_upload_field_is_a_400(gateway_url, http):
    body = form(b'Content-Disposition: form-data; name="candid"\r\n\r\n300001\x00',
                file_part(b'name="file"; filename="MTL0001_300001_V1.zip"'))

    answer = await http.post(f"{gateway_url}/api/v1/uploads", data=body, headers={**AUTH, "Content-Type": MULTIPART})

    errors = await refusal(answer)
    assert [(e["code"], e["message"]) for e in errors] == [("invalid_candid", "candid: must not contain a NUL character.")]


async def test_a_method_a_route_does_not_allow_is_a_405_that_names_those_it_does(gateway_url, http):
    answer = await http.request("TRACE", f"{gateway_url}/api/v1/uploads/1/launch", headers=AUTH)

    assert [e["code"] for e in await refusal(answer, 405)] == ["method_not_allowed"]
    assert answer.headers["Allow"] == "POST"


async def test_a_token_that_is_not_utf8_text_is_a_401(gateway_url):
    status, _ = await raw_get(gateway_url, "/api/v1/uploads", b"Authorization: Bearer \xff\xfe")

    assert status == 401


async def raw_get(url: str, path: str, header_line: bytes) -> tuple[int, bytes]:
    """A GET with one header line sent byte for byte (an HTTP client would refuse to send it)."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {where.netloc}\r\nConnection: close\r\n".encode() + header_line
                     + b"\r\n\r\n")
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_a_field_sent_after_the_file_is_refused_not_ignored_and_nothing_is_kept(gateway_url, http, incoming_path):
    name = "phantom_after.zip"
    overwrite = b'Content-Disposition: form-data; name="overwrite"\r\n\r\ntrue'
    body = form(PHANTOM, file_part(f'name="file"; filename="{name}"'.encode()), overwrite)

    answer = await http.post(f"{gateway_url}/api/v1/uploads", data=body, headers={**AUTH, "Content-Type": MULTIPART})

    assert [(e["code"], e["message"]) for e in await refusal(answer)] == [
        ("part_after_file", "The form has a part after the file; send every field before the file part.")]
    assert not list(incoming_path.rglob(name))


async def test_a_phantom_whose_file_is_the_last_part_is_accepted(gateway_url, http):
    body = form(PHANTOM, file_part(b'name="file"; filename="phantom_last.zip"'))

    answer = await http.post(f"{gateway_url}/api/v1/uploads", data=body, headers={**AUTH, "Content-Type": MULTIPART})

    assert answer.status == 202, await answer.text()
