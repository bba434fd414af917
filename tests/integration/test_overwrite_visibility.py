"""No one can replace an upload they cannot see, nor replace a candidate's scan
with a phantom or a phantom with a candidate's scan: the gateway checks it on
the existing upload's record, whether the validator answers or not, and no
answer tells the id or the progress of an upload the caller may not see."""

import uuid

import pytest

from services.common.scope import ALL_SITES, NO_SESSION, OWN_SITES
from services.gateway.__main__ import build_app as build_gateway
from services.gateway.auth.users import save_user
from services.logstore.__main__ import build_app as build_logstore
from tests.conftest import DEMO_TOKEN
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app

MTL = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}
# user: (permissions, sites)
USERS = {"ana": ([ALL_SITES], []), "otto": ([OWN_SITES], ["OTT"]), "pat": ([NO_SESSION], [])}


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {user: f"token-{user}-{uuid.uuid4().hex}" for user in USERS}


@pytest.fixture
async def users(pool, tokens) -> None:
    async with pool.acquire() as conn:
        for user, (permissions, sites) in USERS.items():
            await save_user(conn, user, permissions, tokens[user], sites)


@pytest.fixture
async def gateway(gateway_stack, users):
    async with gateway_stack() as (gateway_url, _):
        yield gateway_url


@pytest.fixture
async def gateway_without_validator(gateway_settings, logstore_settings, users):
    """A gateway whose rule checks go unanswered: it accepts uploads on its own rules, as while the validator
    is away."""
    async with running_app(build_logstore(logstore_settings())) as logstore_url:
        settings = gateway_settings(logstore_url=logstore_url, auto_launch=False, rule_check_timeout_seconds=0.2)
        async with running_app(build_gateway(settings)) as gateway_url:
            yield gateway_url


@pytest.fixture
def mtl_archive(tmp_path):
    name = f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz"
    return make_dicom_archive(tmp_path / name, "MTL0001_300001_V1", n_files=1)


async def uploaded_by_demo(http, gateway: str, archive) -> int:
    answer = await UploaderClient(http, gateway, DEMO_TOKEN).upload(archive, **MTL)
    assert answer.status == 202, await answer.text()
    return (await answer.json())["upload_id"]


async def record_of(pool, upload_id: int):
    return await pool.fetchrow(
        "SELECT attempt, candid, pscid, visit_label, is_phantom, uploaded_by FROM gateway.uploads WHERE upload_id = $1",
        upload_id)


def name_taken(file_name: str) -> dict:
    return {"code": "name_taken", "field": "file",
            "message": f"File {file_name} was already uploaded, in an upload you may not see; it cannot be replaced "
                       f"from your account. Rename the file to upload it."}


async def test_a_phantom_uploader_cannot_turn_another_site_s_upload_into_their_phantom(
        gateway, http, tokens, pool, mtl_archive):
    upload_id = await uploaded_by_demo(http, gateway, mtl_archive)
    before = await record_of(pool, upload_id)
    pat = UploaderClient(http, gateway, tokens["pat"])

    answer = await pat.upload(mtl_archive, is_phantom=True, overwrite=True)

    body = await answer.json()
    assert answer.status == 409, body
    assert body["errors"] == [name_taken(mtl_archive.name)]
    assert await record_of(pool, upload_id) == before


async def test_the_pre_flight_tells_no_id_or_progress_of_an_upload_the_caller_may_not_see(
        gateway, http, tokens, mtl_archive):
    await uploaded_by_demo(http, gateway, mtl_archive)
    pat = UploaderClient(http, gateway, tokens["pat"])

    check = await pat.check(file_name=mtl_archive.name, file_size=1024, is_phantom=True, overwrite=True)

    body = await check.json()
    assert check.status == 200, body
    assert (body["ok"], body["errors"], body["existing"]) == (False, [name_taken(mtl_archive.name)], None)


async def test_while_the_validator_is_away_a_user_of_another_site_cannot_replace_a_candidate_s_upload(
        gateway_without_validator, http, tokens, pool, mtl_archive):
    upload_id = await uploaded_by_demo(http, gateway_without_validator, mtl_archive)
    before = await record_of(pool, upload_id)
    otto = UploaderClient(http, gateway_without_validator, tokens["otto"])

    answer = await otto.upload(mtl_archive, overwrite=True, **MTL)

    body = await answer.json()
    assert answer.status == 409, body
    assert body["errors"] == [name_taken(mtl_archive.name)]
    assert await record_of(pool, upload_id) == before


async def test_a_candidate_s_scan_is_not_replaced_by_a_phantom_even_by_a_user_who_may_see_both(
        gateway, http, tokens, pool, mtl_archive):
    upload_id = await uploaded_by_demo(http, gateway, mtl_archive)
    before = await record_of(pool, upload_id)
    ana = UploaderClient(http, gateway, tokens["ana"])

    check = await (await ana.check(file_name=mtl_archive.name, file_size=1024, is_phantom=True, overwrite=True)).json()
    answer = await ana.upload(mtl_archive, is_phantom=True, overwrite=True)

    body = await answer.json()
    assert answer.status == 409, body
    assert body["error"] == {
        "code": "cannot_overwrite", "field": "file",
        "message": f"File {mtl_archive.name} was uploaded as a candidate's scan (upload {upload_id}, progress "
                   f"Not Started); only a candidate's scan may replace it."}
    assert check["existing"] == {"upload_id": upload_id, "progress": "Not Started", "may_overwrite": False}
    assert await record_of(pool, upload_id) == before


async def test_a_user_who_may_see_the_upload_replaces_it_with_a_scan_of_its_kind(
        gateway, http, tokens, pool, mtl_archive):
    upload_id = await uploaded_by_demo(http, gateway, mtl_archive)
    ana = UploaderClient(http, gateway, tokens["ana"])

    answer = await ana.upload(mtl_archive, overwrite=True, **MTL)

    assert answer.status == 202, await answer.text()
    assert await answer.json() == {"upload_id": upload_id, "attempt": 2, "file_name": mtl_archive.name,
                                   "progress": "Not Started", "loris_upload_id": None}
    assert (await record_of(pool, upload_id))["uploaded_by"] == "ana"
