"""Reading tus's request headers: each bad value is a 400 (or 412) that names it, never a 500."""

import base64
import hashlib
import json

import pytest
from aiohttp.test_utils import make_mocked_request

from services.common.request_parsing import Refusal
from services.gateway.tus.tus_headers import checksum, metadata, require_tus_version, upload_length


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def request(**headers):
    return make_mocked_request("POST", "/api/v1/tus/", headers={key.replace("_", "-"): value
                                                                for key, value in headers.items()})


def refusal_of(call) -> tuple[int, str]:
    with pytest.raises(Refusal) as refused:
        call()
    return refused.value.response.status, json.loads(refused.value.response.body)["error"]["code"]


def test_metadata_gives_the_fields_and_the_file_name_and_ignores_the_keys_tus_clients_add():
    value = f"filename {b64('MTL0001_300001_V1.tgz')},candid {b64('300001')},is_phantom {b64('false')}," \
            f"filetype {b64('application/gzip')},empty"

    fields, file_name = metadata(request(Upload_Metadata=value))

    assert file_name == "MTL0001_300001_V1.tgz"
    assert (fields.candid, fields.is_phantom, fields.pscid) == ("300001", False, None)


@pytest.mark.parametrize(("value", "code"), [
    ("", "missing_filename"),
    (f"candid {b64('300001')}", "missing_filename"),
    ("filename not-base64!", "invalid_metadata"),
    ("filename " + base64.b64encode(b"\xff\xfe").decode(), "invalid_metadata"),  # not UTF-8
    (f"filename {b64('a.tgz')},is_phantom {b64('perhaps')}", "invalid_is_phantom"),
])
def test_bad_metadata_is_a_400_naming_it(value, code):
    assert refusal_of(lambda: metadata(request(Upload_Metadata=value))) == (400, code)


@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_upload_length"),
    ({"Upload_Length": "-1"}, "invalid_upload_length"),
    ({"Upload_Length": "1" * 20}, "invalid_upload_length"),
    ({"Upload_Length": "١٢"}, "invalid_upload_length"),  # digits, but not ASCII ones
    ({"Upload_Defer_Length": "1"}, "defer_length_unsupported"),
])
def test_a_bad_upload_length_is_a_400(headers, code):
    assert refusal_of(lambda: upload_length(request(**headers))) == (400, code)


def test_a_checksum_names_its_algorithm_and_digest():
    digest = hashlib.sha256(b"bytes").digest()

    read = checksum(request(Upload_Checksum=f"sha256 {base64.b64encode(digest).decode()}"))

    assert (read.algorithm, read.digest) == ("sha256", digest)
    assert checksum(request()) is None
    assert refusal_of(lambda: checksum(request(Upload_Checksum="crc32 AAAA"))) == (
        400, "checksum_algorithm_unsupported")
    assert refusal_of(lambda: checksum(request(Upload_Checksum="sha1 !!"))) == (400, "invalid_checksum")


def test_a_request_without_tus_resumable_1_0_0_is_412_naming_the_version_served():
    assert refusal_of(lambda: require_tus_version(request(Tus_Resumable="0.2.2"))) == (412, "tus_version_unsupported")
    require_tus_version(request(Tus_Resumable="1.0.0"))
