"""The upload rules the validator owns (services.validator.rules): fields,
candidate and session, site scope, and the file-name rule."""

import pytest

from services.common.messages import RuleCheckRequest, UserScope
from services.validator.registry import Candidate, Session
from services.validator.rules import check_upload

ALL_SITES = UserScope(username="ana", all_sites=True)
MONTREAL_ONLY = UserScope(username="mo", own_sites=("MTL",))
PHANTOMS_ONLY = UserScope(username="pat", no_session=True)
ACTIVE_CANDIDATE = Candidate(candid="300001", pscid="MTL0001", active=True, site="MTL")
ACTIVE_SESSION = Session(candid="300001", visit_label="V1", active=True)
OTTAWA_CANDIDATE = Candidate(candid="400001", pscid="OTT0001", active=True, site="OTT")
OTTAWA_SESSION = Session(candid="400001", visit_label="V1", active=True)


class FakeRegistry:
    """An in-memory CandidateRegistry that remembers what it was asked."""

    def __init__(self, candidates=(ACTIVE_CANDIDATE, OTTAWA_CANDIDATE), sessions=(ACTIVE_SESSION, OTTAWA_SESSION)):
        self._candidates = {c.candid: c for c in candidates}
        self._sessions = {(s.candid, s.visit_label): s for s in sessions}
        self.asked: list[tuple] = []

    async def candidate(self, candid: str) -> Candidate | None:
        self.asked.append(("candidate", candid))
        return self._candidates.get(candid)

    async def session(self, candid: str, visit_label: str) -> Session | None:
        self.asked.append(("session", candid, visit_label))
        return self._sessions.get((candid, visit_label))


def request(candid="300001", pscid="MTL0001", visit_label="V1", file_name="MTL0001_300001_V1.tgz",
            scope=ALL_SITES, is_phantom=False) -> RuleCheckRequest:
    return RuleCheckRequest(candid=candid, pscid=pscid, visit_label=visit_label, file_name=file_name,
                            scope=scope, is_phantom=is_phantom)


async def failures_of(req: RuleCheckRequest, registry=None) -> list[tuple[str, str, str]]:
    reply = await check_upload(registry or FakeRegistry(), req)
    return [(f.field, f.code, f.message) for f in reply.failures]


async def test_a_valid_upload_passes_every_rule_and_learns_its_candidate_s_site():
    registry = FakeRegistry()

    reply = await check_upload(registry, request())

    assert reply.failures == [] and reply.site == "MTL"
    assert registry.asked == [("candidate", "300001"), ("session", "300001", "V1")]


async def test_missing_fields_of_a_scan_that_is_not_a_phantom_are_all_reported_and_the_registry_is_not_asked():
    registry = FakeRegistry()

    failures = await failures_of(request(candid=None, pscid=None, visit_label=None), registry)

    assert [(field, code) for field, code, _ in failures] == [
        ("candid", "missing_candid"), ("pscid", "missing_pscid"), ("visit_label", "missing_visit_label")]
    assert failures[0][2] == ("CandID is required for a scan that is not a phantom; fill it in, "
                              "or mark the scan as a phantom.")
    assert registry.asked == []


@pytest.mark.parametrize(
    ("fields", "failure"),
    [
        ({"candid": "30001"}, ("candid", "invalid_candid", "CandID '30001' is not valid: a CandID is 6 digits.")),
        ({"candid": "abcdef"}, ("candid", "invalid_candid", "CandID 'abcdef' is not valid: a CandID is 6 digits.")),
        ({"pscid": "MTL_0001"}, ("pscid", "invalid_pscid",
                                 "PSCID 'MTL_0001' is not valid: it may hold only letters, digits and '-'.")),
        ({"visit_label": "V 1"}, ("visit_label", "invalid_visit_label",
                                  "Visit label 'V 1' is not valid: it may hold only letters, digits and '-'.")),
    ],
)
async def test_a_malformed_field_is_reported_with_its_value_and_what_it_should_be(fields, failure):
    assert await failures_of(request(**fields)) == [failure]


@pytest.mark.parametrize(
    ("fields", "failures"),
    [
        ({"candid": "999999"}, [("candid", "candid_exists", "CandID 999999 does not exist.")]),
        ({"pscid": "MTL0002"}, [("pscid", "pscid_matches_candid",
                                 "PSCID MTL0002 does not belong to CandID 300001; check both values.")]),
        ({"visit_label": "V9"}, [("visit_label", "visit_exists",
                                  "Visit label V9 does not exist for CandID 300001; check both values.")]),
    ],
)
async def test_a_candidate_or_visit_that_does_not_match_the_registry_is_named(fields, failures):
    assert await failures_of(request(**fields)) == failures


async def test_an_inactive_candidate_and_an_inactive_session_are_both_reported():
    registry = FakeRegistry([Candidate("300001", "MTL0001", False, "MTL")], [Session("300001", "V1", False)])

    assert await failures_of(request(), registry) == [
        ("candid", "candidate_active", "Candidate 300001 (PSCID MTL0001) is not active."),
        ("visit_label", "session_active", "Visit V1 of CandID 300001 is not active."),
    ]


async def test_every_registry_failure_is_reported_at_once_in_field_order():
    registry = FakeRegistry([Candidate("300001", "MTL0002", False, "MTL")], [])

    failures = await failures_of(request(), registry)

    assert [code for _, code, _ in failures] == ["pscid_matches_candid", "candidate_active", "visit_exists"]


async def test_the_file_name_rule_is_reported_only_when_the_fields_pass():
    assert await failures_of(request(pscid="MTL0002", file_name="whatever.tgz")) == [
        ("pscid", "pscid_matches_candid", "PSCID MTL0002 does not belong to CandID 300001; check both values.")]


@pytest.mark.parametrize(
    "file_name",
    ["MTL0001_300001_V1.tgz", "MTL0001_300001_V1.tar.gz", "MTL0001_300001_V1.ZIP", "MTL0001_300001_V1_t1.zip",
     "MTL0001_300001_V1_t1_run-2.tgz", "MTL0001_300001_V1.tar"],
)
async def test_a_name_made_of_pscid_candid_visit_and_an_optional_suffix_follows_the_rule(file_name):
    assert await failures_of(request(file_name=file_name)) == []


@pytest.mark.parametrize(
    "file_name",
    ["MTL0001_300001_V1_.tgz", "MTL0001_300001_V10.tgz", "MTL0001_300001_V1-t1.tgz", "300001_MTL0001_V1.tgz",
     "MTL0001_300001.tgz", "xMTL0001_300001_V1.tgz"],
)
async def test_a_name_that_does_not_match_the_form_tells_the_expected_name_and_the_endings(file_name):
    assert await failures_of(request(file_name=file_name)) == [(
        "file", "file_name_mismatch",
        f"File name {file_name!r} does not match the form: name it MTL0001_300001_V1 or "
        "MTL0001_300001_V1_<suffix>, followed by .tgz, .tar.gz or .zip.")]


async def test_an_own_sites_user_may_upload_for_a_candidate_of_their_site():
    reply = await check_upload(FakeRegistry(), request(scope=MONTREAL_ONLY))

    assert reply.failures == [] and reply.site == "MTL"


async def test_an_own_sites_user_is_refused_another_site_s_candidate_with_that_failure_alone():
    req = request(candid="400001", pscid="OTT0002", visit_label="V1", file_name="bad.tgz", scope=MONTREAL_ONLY)

    reply = await check_upload(FakeRegistry(), req)

    assert [(f.field, f.code, f.forbidden) for f in reply.failures] == [("candid", "site_not_permitted", True)]
    assert reply.failures[0].message == (
        "User mo may upload only for the candidates of site MTL (imaging_uploader_ownsites); "
        "CandID 400001 belongs to site OTT.")


async def test_a_user_with_only_the_no_session_permission_may_not_upload_for_a_candidate():
    reply = await check_upload(FakeRegistry(), request(scope=PHANTOMS_ONLY))

    assert [(f.code, f.forbidden) for f in reply.failures] == [("site_not_permitted", True)]
    assert reply.failures[0].message == (
        "User pat may upload only phantom scans; uploading for CandID 300001 needs the "
        "imaging_uploader_ownsites or imaging_uploader_allsites permission.")


@pytest.mark.parametrize("scope", [ALL_SITES, PHANTOMS_ONLY], ids=["all-sites", "no-session"])
async def test_a_phantom_skips_the_candidate_session_and_name_rules(scope):
    registry = FakeRegistry()

    reply = await check_upload(registry, request(candid=None, pscid=None, visit_label=None, file_name="any.zip",
                                                 scope=scope, is_phantom=True))

    assert reply.failures == [] and reply.site is None
    assert registry.asked == []


async def test_a_user_without_the_no_session_permission_may_not_upload_a_phantom():
    reply = await check_upload(FakeRegistry(), request(is_phantom=True, scope=MONTREAL_ONLY))

    assert [(f.field, f.code, f.forbidden) for f in reply.failures] == [("is_phantom", "phantom_not_permitted", True)]
    assert reply.failures[0].message == (
        "User mo may not upload phantom scans: that needs the imaging_uploader_nosessionid or "
        "imaging_uploader_allsites permission.")


async def test_a_visit_access_check_asks_only_that_the_candidate_and_visit_exist_and_are_the_user_s():
    def access(candid, visit_label, scope=ALL_SITES):
        return RuleCheckRequest(purpose="visit_access", candid=candid, visit_label=visit_label, scope=scope)

    registry = FakeRegistry([Candidate("300001", "MTL0001", False, "MTL"), OTTAWA_CANDIDATE],
                            [Session("300001", "V1", False), OTTAWA_SESSION])

    reachable = await check_upload(registry, access("300001", "V1"))
    unknown_visit = await check_upload(registry, access("300001", "V9"))
    unknown_candidate = await check_upload(registry, access("999999", "V1"))
    other_site = await check_upload(registry, access("400001", "V1", scope=MONTREAL_ONLY))

    assert reachable.failures == [] and reachable.site == "MTL", "no PSCID, name or active rule applies"
    assert [f.code for f in unknown_visit.failures] == ["visit_exists"]
    assert [f.code for f in unknown_candidate.failures] == ["candid_exists"]
    assert [(f.code, f.forbidden) for f in other_site.failures] == [("site_not_permitted", True)]


MONTREAL_DEMO_PROJECT = UserScope(username="mo", own_sites=("MTL",), own_projects=("Demo",))
OTHER_PROJECT_CANDIDATE = Candidate(candid="300002", pscid="MTL0002", active=True, site="MTL", project="Other")
OTHER_PROJECT_SESSION = Session(candid="300002", visit_label="V1", active=True)


async def test_with_loris_s_advanced_permissions_an_own_sites_user_needs_the_candidate_s_project_too():
    registry = FakeRegistry([Candidate("300001", "MTL0001", True, "MTL", "Demo"),
                             OTHER_PROJECT_CANDIDATE], [ACTIVE_SESSION, OTHER_PROJECT_SESSION])

    own = await check_upload(registry, request(scope=MONTREAL_DEMO_PROJECT))
    other = await check_upload(registry, request(candid="300002", pscid="MTL0002", file_name="bad.tgz",
                                                 scope=MONTREAL_DEMO_PROJECT))

    assert own.failures == [] and (own.site, own.project) == ("MTL", "Demo")
    assert [(f.field, f.code, f.forbidden) for f in other.failures] == [("candid", "project_not_permitted", True)]
    assert other.failures[0].message == (
        "User mo may upload only for the candidates of their own sites and projects (imaging_uploader_ownsites "
        "with LORIS's useAdvancedPermissions; their projects: Demo); CandID 300002 belongs to project Other.")
    assert (other.site, other.project) == ("MTL", "Other")


async def test_projects_do_not_limit_an_all_sites_user_nor_an_own_sites_user_without_advanced_permissions():
    registry = FakeRegistry([OTHER_PROJECT_CANDIDATE], [OTHER_PROJECT_SESSION])
    all_sites = UserScope(username="ana", all_sites=True, own_projects=("Demo",))

    for scope in (all_sites, MONTREAL_ONLY):
        reply = await check_upload(registry, request(candid="300002", pscid="MTL0002",
                                                     file_name="MTL0002_300002_V1.tgz", scope=scope))
        assert reply.failures == [], scope
