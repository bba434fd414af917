"""The validator on a LORIS site's registry (UPLOADER_LORIS_DATABASE_URL): every rule and message of the uploader's
own registry holds on LORIS's candidate, session and psc tables, read at the moment of each check; while MariaDB
cannot be reached, no verdict is given: the gateway answers 503 saying so, and a received upload is decided once
it is back.

The validator runs in-process as the uploader's MariaDB user, granted exactly what docs/loris-site.md lists, on a
LORIS database of this module's own with the demo project loaded (the demo registry's sites, candidates and
visits)."""

import contextlib
import itertools
import uuid

import pytest

from services.common import metrics
from services.common.broker import connect
from services.common.messages import RuleCheckReply, RuleCheckRequest, UploadReceived, UploadRejected, UploadValidated, UserScope
from services.common.request_reply import Requester
from services.common.topology import RULE_CHECK_QUEUE, VALIDATOR_QUEUE
from services.gateway.__main__ import build_app as build_gateway
from services.validator.__main__ import build_app as build_validator
from services.validator.loris_registry import CANDIDATE_QUERY, SESSIONS_QUERY
from services.validator.registry import PostgresRegistry
from services.validator.rules import check_upload
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import ALL_SITES, new_upload_id, received_event
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app
from tests.support.loris import (
    MARIADB_HOST,
    MARIADB_PORT,
    connect_as_admin,
    create_demo_loris_database,
    drop_loris_database,
    uploader_user_of,
)
from tests.support.tcp_proxy import TcpProxy

MONTREAL_ONLY = UserScope(username="mo", own_sites=("MTL",))
# CandIDs this module registers in LORIS while the validator runs (the demo's are 3xxxxx and 4xxxxx).
_new_candids = itertools.count(500001)


@pytest.fixture(scope="module")
async def loris_name(run_name):
    name = f"loris_{run_name}_registry"
    await create_demo_loris_database(name)
    yield name
    await drop_loris_database(name)


@pytest.fixture(scope="module")
def granted_url(loris_name, tmp_path_factory):
    """The URL of the uploader's MariaDB user, granted as setup.sh grants it: a missing grant shows."""
    with uploader_user_of(loris_name, tmp_path_factory.mktemp("loris") / "loris-password") as url:
        yield url


@pytest.fixture
async def validator(validator_settings, granted_url, tap):
    async with running_app(build_validator(validator_settings(loris_database_url=granted_url))):
        yield


@pytest.fixture
async def requester(amqp_url):
    connection = await connect(amqp_url)
    try:
        requester = Requester(await connection.channel())
        await requester.start()
        yield requester
    finally:
        await connection.close()


async def rule_check(requester: Requester, scope: UserScope = ALL_SITES, **fields) -> RuleCheckReply:
    request = RuleCheckRequest(scope=scope, **fields)
    body = await requester.ask(RULE_CHECK_QUEUE, request.model_dump_json().encode(), timeout=10)
    return RuleCheckReply.model_validate_json(body)


async def as_loris_admin(database: str, statement: str, *args) -> list[tuple]:
    conn = await connect_as_admin(database)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement, args)
            return list(await cursor.fetchall())
    finally:
        conn.close()


async def register_candidate(database: str, site: str, *, entity_type: str = "Human",
                             visits: tuple[str, ...] = ("V1",)) -> tuple[str, str]:
    """A new candidate in LORIS, as LORIS's candidate registration makes it, with active visits; its CandID and
    PSCID."""
    candid = next(_new_candids)
    pscid = f"{site}{candid}"
    await as_loris_admin(
        database,
        """INSERT INTO candidate (CandID, PSCID, RegistrationCenterID, RegistrationProjectID, Active, Entity_type)
           SELECT %s, %s, psc.CenterID, Project.ProjectID, 'Y', %s FROM psc, Project
           WHERE psc.Alias = %s AND Project.Name = 'Demo'""",
        candid, pscid, entity_type, site)
    for visit in visits:
        await as_loris_admin(
            database,
            """INSERT INTO session (CandidateID, CenterID, ProjectID, Visit_label, Active)
               SELECT ID, RegistrationCenterID, RegistrationProjectID, %s, 'Y' FROM candidate WHERE CandID = %s""",
            visit, candid)
    return str(candid), pscid


# Each rule of today, on LORIS's copy of the demo registry: (fields, scope, the failures' codes).
CASES = {
    "valid": ({"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}, ALL_SITES, []),
    "candid-unknown": ({"candid": "999999", "pscid": "MTL0001", "visit_label": "V1"}, ALL_SITES, ["candid_exists"]),
    "pscid-mismatch": ({"candid": "300001", "pscid": "OTT0001", "visit_label": "V1"}, ALL_SITES,
                       ["pscid_matches_candid"]),
    "visit-unknown": ({"candid": "300001", "pscid": "MTL0001", "visit_label": "V9"}, ALL_SITES, ["visit_exists"]),
    "candidate-inactive": ({"candid": "300002", "pscid": "MTL0002", "visit_label": "V1"}, ALL_SITES,
                           ["candidate_active"]),
    "visit-inactive": ({"candid": "300001", "pscid": "MTL0001", "visit_label": "V2"}, ALL_SITES, ["session_active"]),
    "every-field-rule": ({"candid": "300002", "pscid": "MTL0001", "visit_label": "V7"}, ALL_SITES,
                         ["pscid_matches_candid", "candidate_active", "visit_exists"]),
    "own-sites-other-site": ({"candid": "400001", "pscid": "OTT0001", "visit_label": "V1"}, MONTREAL_ONLY,
                             ["site_not_permitted"]),
    "own-sites-own-site": ({"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}, MONTREAL_ONLY, []),
    "phantom-needs-no-candidate": ({"is_phantom": True}, ALL_SITES, []),
    "visit-label-as-typed": ({"candid": "300001", "pscid": "MTL0001", "visit_label": "v1"}, ALL_SITES,
                             ["visit_exists"]),
    "file-name": ({"candid": "300001", "pscid": "MTL0001", "visit_label": "V1", "file_name": "scan.tgz"}, ALL_SITES,
                  ["file_name_mismatch"]),
}


@pytest.mark.parametrize("case", CASES)
async def test_each_rule_gives_on_loris_s_data_the_verdict_and_words_of_the_uploader_s_own_registry(
        validator, requester, pool, case):
    fields, scope, codes = CASES[case]

    reply = await rule_check(requester, scope, **fields)

    assert [f.code for f in reply.failures] == codes
    async with pool.acquire() as conn:
        own_registry = await check_upload(PostgresRegistry(conn), RuleCheckRequest(scope=scope, **fields))
    # LORIS's registry also names the candidate's project (the uploader's own has none).
    assert reply.project == ("Demo" if reply.site is not None else None)
    assert reply.model_copy(update={"project": None}) == own_registry


async def test_the_messages_name_the_values_as_loris_s_module_does(validator, requester):
    every = await rule_check(requester, candid="300002", pscid="MTL0001", visit_label="V7")
    unknown = await rule_check(requester, candid="999999", pscid="MTL0001", visit_label="V1")
    other_site = await rule_check(requester, MONTREAL_ONLY, candid="400001", pscid="OTT0001", visit_label="V1")

    assert [f.message for f in every.failures] == [
        "PSCID MTL0001 does not belong to CandID 300002; check both values.",
        "Candidate 300002 (PSCID MTL0002) is not active.",
        "Visit label V7 does not exist for CandID 300002; check both values.",
    ]
    assert [f.message for f in unknown.failures] == ["CandID 999999 does not exist."]
    assert other_site.site == "OTT" and other_site.failures[0].forbidden
    assert other_site.failures[0].message == ("User mo may upload only for the candidates of site MTL "
                                              "(imaging_uploader_ownsites); CandID 400001 belongs to site OTT.")


async def test_a_candid_is_the_number_loris_shows_so_a_leading_zero_names_no_candidate(
        validator, requester, loris_name):
    await as_loris_admin(
        loris_name,
        """INSERT IGNORE INTO candidate (CandID, PSCID, RegistrationCenterID, RegistrationProjectID)
           SELECT 12345, 'MTL12345', CenterID, (SELECT ProjectID FROM Project WHERE Name = 'Demo') FROM psc
           WHERE Alias = 'MTL'""")

    reply = await rule_check(requester, candid="012345", pscid="MTL12345", visit_label="V1")

    assert [f.message for f in reply.failures] == ["CandID 012345 does not exist."]


async def test_a_candidate_registered_in_loris_while_the_validator_runs_is_accepted_at_the_next_check(
        validator, requester, loris_name):
    candid, pscid = await register_candidate(loris_name, "OTT")

    reply = await rule_check(requester, candid=candid, pscid=pscid, visit_label="V1")

    assert reply.failures == [] and reply.site == "OTT"


async def test_a_candidate_or_visit_set_inactive_in_loris_is_refused_at_the_next_check(
        validator, requester, loris_name):
    candid, pscid = await register_candidate(loris_name, "MTL", visits=("V1", "V2"))
    fields = {"candid": candid, "pscid": pscid}
    assert (await rule_check(requester, **fields, visit_label="V1")).failures == []

    await as_loris_admin(loris_name, "UPDATE session SET Active = 'N' WHERE Visit_label = 'V2' AND CandidateID = "
                                     "(SELECT ID FROM candidate WHERE CandID = %s)", int(candid))
    visit_inactive = await rule_check(requester, **fields, visit_label="V2")
    await as_loris_admin(loris_name, "UPDATE candidate SET Active = 'N' WHERE CandID = %s", int(candid))
    candidate_inactive = await rule_check(requester, **fields, visit_label="V1")

    assert [f.message for f in visit_inactive.failures] == [f"Visit V2 of CandID {candid} is not active."]
    assert [f.message for f in candidate_inactive.failures] == [f"Candidate {candid} (PSCID {pscid}) is not active."]


async def test_a_scanner_candidate_is_checked_as_loris_s_module_checks_it_like_any_other(
        validator, requester, loris_name):
    candid, pscid = await register_candidate(loris_name, "MTL", entity_type="Scanner")

    reply = await rule_check(requester, candid=candid, pscid=pscid, visit_label="V1")

    assert reply.failures == [] and reply.site == "MTL"


async def test_a_received_upload_is_decided_on_loris_s_registry(validator, tap):
    valid = received_event(new_upload_id(), candid="400001", pscid="OTT0001", visit_label="V1")
    inactive = received_event(new_upload_id(), candid="300002", pscid="MTL0002", visit_label="V1")

    await tap.publish(valid)
    await tap.publish(inactive)
    validated = await tap.wait_for(lambda e: e.upload_id == valid.upload_id and e.type == "upload.validated")
    rejected = await tap.wait_for(lambda e: e.upload_id == inactive.upload_id and e.type == "upload.rejected")

    assert isinstance(validated, UploadValidated) and validated.scan.site == "OTT"
    assert isinstance(rejected, UploadRejected) and [f.code for f in rejected.failures] == ["candidate_active"]


async def test_each_lookup_is_one_query_on_loris_s_indexes(loris_name):
    for query, args in ((CANDIDATE_QUERY, (300001,)), (SESSIONS_QUERY, (300001, "V1"))):
        plan = await as_loris_admin(loris_name, f"EXPLAIN {query}", *args)
        access = [(row[2], row[3]) for row in plan]  # (table, access type)
        assert all(kind != "ALL" for _, kind in access), f"a full table scan: {access}"


@contextlib.asynccontextmanager
async def validator_and_gateway_through(proxy: TcpProxy, granted_url, validator_settings, gateway_settings):
    async with running_app(build_validator(validator_settings(loris_database_url=proxy.through(granted_url)))), \
            running_app(build_gateway(gateway_settings(auto_launch=False))) as gateway_url:
        yield gateway_url


def decision_on(event: UploadReceived):
    return lambda e: e.upload_id == event.upload_id and e.type in ("upload.validated", "upload.rejected")


def counted(counter, queue: str) -> float:
    return counter.labels(queue)._value.get()


async def test_while_mariadb_is_away_the_gateway_answers_503_naming_the_loris_database_and_no_verdict(
        validator_settings, gateway_settings, granted_url, http, tap, tmp_path):
    archive = make_dicom_archive(tmp_path / f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz", "MTL0001_300001_V1",
                                 n_files=1)
    fields = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}
    async with TcpProxy(MARIADB_HOST, MARIADB_PORT) as proxy, \
            validator_and_gateway_through(proxy, granted_url, validator_settings, gateway_settings) as url:
        client = UploaderClient(http, url, DEMO_TOKEN)
        await proxy.cut()

        checked = await client.check(file_name=archive.name, file_size=archive.stat().st_size, **fields)
        uploaded = await client.upload(archive, **fields)
        check_body, upload_body = await checked.json(), await uploaded.json()

        await proxy.restore()
        checked_again = await client.check(file_name=archive.name, file_size=archive.stat().st_size, **fields)

    message = ("The LORIS database cannot be reached right now, so the candidate and visit cannot be checked and "
               "nothing was recorded; try again shortly.")
    assert (checked.status, uploaded.status) == (503, 503)
    assert check_body["error"] == upload_body["error"] == {"code": "registry_unavailable", "field": None,
                                                            "message": message}
    assert checked.headers["Retry-After"] == "5"
    assert checked_again.status == 200 and (await checked_again.json())["ok"] is True


async def test_an_upload_received_while_mariadb_is_away_is_decided_once_it_is_back_without_a_failed_delivery(
        validator_settings, granted_url, tap):
    queue = VALIDATOR_QUEUE.name
    event = received_event(new_upload_id(), candid="300001", pscid="MTL0001", visit_label="V1")
    async with TcpProxy(MARIADB_HOST, MARIADB_PORT) as proxy, \
            running_app(build_validator(validator_settings(loris_database_url=proxy.through(granted_url)))):
        failed_before = counted(metrics.MESSAGES_FAILED, queue)
        await proxy.cut()
        await tap.publish(event)
        with pytest.raises(TimeoutError):  # no verdict made without LORIS
            await tap.wait_for(decision_on(event), timeout=3)
        await proxy.restore()

        decision = await tap.wait_for(decision_on(event), timeout=30)

        assert isinstance(decision, UploadValidated) and decision.scan.site == "MTL"
        assert counted(metrics.MESSAGES_FAILED, queue) == failed_before, "the outage counted as a failed delivery"


async def test_the_loris_api_s_visit_routes_answer_503_in_loris_s_words_while_mariadb_is_away(
        validator_settings, gateway_settings, granted_url, http):
    async with TcpProxy(MARIADB_HOST, MARIADB_PORT) as proxy, \
            validator_and_gateway_through(proxy, granted_url, validator_settings, gateway_settings) as url:
        await proxy.cut()
        answer = await http.get(f"{url}/api/v0.0.4-dev/candidates/300001/V1/dicoms",
                                headers={"Authorization": f"Bearer {DEMO_TOKEN}"})
        body = await answer.json()

    assert answer.status == 503
    assert body == {"error": "The LORIS database cannot be reached right now, so the candidate and visit cannot be "
                             "checked and nothing was recorded; try again shortly."}

