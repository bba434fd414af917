"""Who may do what, through the gateway: every user kind × every site × every
/api/v1 endpoint (the tus creation too), with LORIS's three imaging uploader permissions.

- imaging_uploader_allsites: every upload;
- imaging_uploader_ownsites: the uploads of the candidates of the user's sites;
- imaging_uploader_nosessionid: the uploads with no session (phantoms);
and a user without any of them is refused everywhere. An upload a user may
not see does not exist for them: 404 on its id, its log, its runs and its
launch, and absent from browse."""

import uuid

import pytest

from services.common.scope import ALL_SITES, NO_SESSION, OWN_SITES
from services.gateway.auth.users import save_user
from tests.conftest import DEMO_TOKEN, NO_PERMISSION_TOKEN
from tests.integration.helpers import eventually
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.tus_requests import TusRequests

# user: (permissions, sites)
USERS = {
    "ana": ([ALL_SITES], []),
    "mo": ([OWN_SITES], ["MTL"]),
    "otto": ([OWN_SITES], ["OTT"]),
    "pat": ([NO_SESSION], []),
    "mopat": ([OWN_SITES, NO_SESSION], ["MTL"]),
}
# the upload kinds: form fields of each
KINDS = {
    "MTL": {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"},
    "OTT": {"candid": "400001", "pscid": "OTT0001", "visit_label": "V1"},
    "phantom": {"is_phantom": True},
}
# Which kinds each user may see and upload.
ALLOWED = {
    "ana": {"MTL", "OTT", "phantom"},
    "mo": {"MTL"},
    "otto": {"OTT"},
    "pat": {"phantom"},
    "mopat": {"MTL", "phantom"},
}
MATRIX = [(user, kind) for user in USERS for kind in KINDS]


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {user: f"token-{user}-{uuid.uuid4().hex}" for user in USERS}


@pytest.fixture
async def gateway(gateway_stack, pool, tokens):
    async with pool.acquire() as conn:
        for user, (permissions, sites) in USERS.items():
            await save_user(conn, user, permissions, tokens[user], sites)
    async with gateway_stack() as (gateway_url, _):
        yield gateway_url


def archive(tmp_path, kind: str):
    fields = KINDS[kind]
    stem = "phantom" if kind == "phantom" else f"{fields['pscid']}_{fields['candid']}_{fields['visit_label']}"
    name = f"{stem}_{uuid.uuid4().hex[:8]}.tgz"
    return make_dicom_archive(tmp_path / name, "" if kind == "phantom" else stem, n_files=1)


@pytest.fixture
async def uploads_by_demo(gateway, http, tmp_path) -> dict[str, int]:
    """One upload of each kind, sent by the demo user (every permission); their ids, once recorded."""
    demo = UploaderClient(http, gateway, DEMO_TOKEN)
    ids = {}
    for kind, fields in KINDS.items():
        answer = await demo.upload(archive(tmp_path, kind), **fields)
        assert answer.status == 202, await answer.text()
        ids[kind] = (await answer.json())["upload_id"]
    for upload_id in ids.values():
        await eventually(lambda u=upload_id: _recorded(demo, u), what=f"upload {upload_id} in the logstore")
    return ids


async def _recorded(client: UploaderClient, upload_id: int) -> bool:
    log = await client.log(upload_id)
    return any(line["origin"] == "validator" for line in log["lines"])


@pytest.mark.parametrize(("user", "kind"), MATRIX)
async def test_a_user_sees_an_upload_of_a_kind_only_when_allowed(gateway, http, tokens, uploads_by_demo, user, kind):
    client = UploaderClient(http, gateway, tokens[user])
    upload_id = uploads_by_demo[kind]
    expected = 200 if kind in ALLOWED[user] else 404

    browse = await (await client.get("/api/v1/uploads", page_size="500")).json()
    statuses = [(await client.get(path)).status for path in (
        f"/api/v1/uploads/{upload_id}", f"/api/v1/uploads/{upload_id}/log", f"/api/v1/uploads/{upload_id}/runs")]
    launch = await client.launch(upload_id)
    report = await client.get(f"/api/v1/uploads/{upload_id}/report")

    assert (upload_id in {item["upload_id"] for item in browse["items"]}) == (kind in ALLOWED[user])
    assert statuses == [expected] * 3
    if kind in ALLOWED[user]:  # its report, or none yet
        assert report.status == 200 or (await report.json())["error"]["code"] == "no_report", await report.text()
    else:
        assert (await report.json())["error"]["code"] == "unknown_upload"
    if kind in ALLOWED[user]:
        assert launch.status in (202, 409), await launch.text()
    else:
        assert launch.status == 404
        assert (await launch.json())["error"]["message"] == f"There is no upload with id {upload_id}."


@pytest.mark.parametrize(("user", "kind"), MATRIX)
async def test_a_user_may_upload_and_check_an_upload_of_a_kind_only_when_allowed(gateway, http, tokens, tmp_path, user, kind):
    client = UploaderClient(http, gateway, tokens[user])
    path = archive(tmp_path, kind)

    check = await (await client.check(file_name=path.name, file_size=path.stat().st_size, **KINDS[kind])).json()
    tus_creation = await TusRequests(http, gateway, tokens[user]).create(path.name, path.stat().st_size,
                                                                         **KINDS[kind])
    answer = await client.upload(path, **KINDS[kind])

    if kind in ALLOWED[user]:
        assert answer.status == 202, await answer.text()
        assert check["ok"] is True and check["errors"] == []
        assert tus_creation.status == 201, await tus_creation.text()
    else:
        error = (await answer.json())["error"]
        assert answer.status == 403
        assert error["code"] == ("phantom_not_permitted" if kind == "phantom" else "site_not_permitted")
        assert check["ok"] is False and check["errors"] == [error]
        assert tus_creation.status == 403 and (await tus_creation.json())["error"] == error


async def test_an_own_sites_user_is_told_which_sites_they_may_upload_for(gateway, http, tokens, tmp_path):
    client = UploaderClient(http, gateway, tokens["mo"])

    answer = await client.upload(archive(tmp_path, "OTT"), **KINDS["OTT"])

    assert answer.status == 403
    assert (await answer.json())["error"] == {
        "code": "site_not_permitted", "field": "candid",
        "message": "User mo may upload only for the candidates of site MTL (imaging_uploader_ownsites); "
                   "CandID 400001 belongs to site OTT."}


@pytest.mark.parametrize("path", ["/api/v1/uploads", "/api/v1/uploads/1", "/api/v1/uploads/1/log",
                                  "/api/v1/uploads/1/runs", "/api/v1/uploads/1/report"])
async def test_a_user_without_an_uploader_permission_is_refused_everywhere(gateway, http, path):
    viewer = UploaderClient(http, gateway, NO_PERMISSION_TOKEN)

    tus = TusRequests(http, gateway, NO_PERMISSION_TOKEN)

    answers = [await viewer.get(path), await viewer.launch(1),
               await viewer.check(file_name="MTL0001_300001_V1.tgz", file_size=1, **KINDS["MTL"]),
               await tus.options(), await tus.create("MTL0001_300001_V1.tgz", 1, **KINDS["MTL"])]

    assert [answer.status for answer in answers] == [403] * 5
