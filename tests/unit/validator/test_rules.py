"""The candidate and session rules (services.validator.rules)."""

from services.common.messages import RuleFailure, ScanFacts
from services.validator.registry import Candidate, Session
from services.validator.rules import check_scan, failed_rules

SCAN = ScanFacts(
    file_name="MTL0001_300001_V1.tgz", scan_key="demo/1/attempt-1/MTL0001_300001_V1.tgz",
    candid="300001", pscid="MTL0001", visit_label="V1",
)
PHANTOM = ScanFacts(file_name="phantom.tgz", scan_key="demo/2/attempt-1/phantom.tgz", is_phantom=True)
ACTIVE_CANDIDATE = Candidate(candid="300001", pscid="MTL0001", active=True, site="Montreal")
ACTIVE_SESSION = Session(candid="300001", visit_label="V1", active=True)


class FakeRegistry:
    """An in-memory CandidateRegistry that remembers what it was asked."""

    def __init__(self, candidates=(), sessions=()) -> None:
        self._candidates = {c.candid: c for c in candidates}
        self._sessions = {(s.candid, s.visit_label): s for s in sessions}
        self.asked: list[tuple] = []

    async def candidate(self, candid: str) -> Candidate | None:
        self.asked.append(("candidate", candid))
        return self._candidates.get(candid)

    async def session(self, candid: str, visit_label: str) -> Session | None:
        self.asked.append(("session", candid, visit_label))
        return self._sessions.get((candid, visit_label))


def messages(failures: list[RuleFailure]) -> list[str]:
    return [f.message for f in failures]


def test_an_active_candidate_with_an_active_visit_passes_every_rule():
    assert failed_rules(SCAN, ACTIVE_CANDIDATE, ACTIVE_SESSION) == []


def test_an_unknown_candid_is_the_only_failure_reported_and_names_the_candid():
    failures = failed_rules(SCAN, None, None)

    assert failures == [RuleFailure(rule="candid_exists", message="CandID 300001 does not exist.")]


def test_a_pscid_that_belongs_to_another_candidate_is_reported_with_both_values():
    candidate = Candidate(candid="300001", pscid="MTL0002", active=True, site="Montreal")

    failures = failed_rules(SCAN, candidate, ACTIVE_SESSION)

    assert failures == [
        RuleFailure(
            rule="pscid_matches_candid",
            message="PSCID MTL0001 does not belong to CandID 300001; check both values.",
        )
    ]


def test_a_missing_visit_is_reported_with_the_visit_label_and_the_candid():
    failures = failed_rules(SCAN, ACTIVE_CANDIDATE, None)

    assert failures == [
        RuleFailure(
            rule="visit_exists",
            message="Visit label V1 does not exist for CandID 300001; check both values.",
        )
    ]


def test_an_inactive_candidate_is_reported_with_its_candid_and_pscid():
    candidate = Candidate(candid="300001", pscid="MTL0001", active=False, site="Montreal")

    failures = failed_rules(SCAN, candidate, ACTIVE_SESSION)

    assert failures == [RuleFailure(rule="candidate_active", message="Candidate 300001 (PSCID MTL0001) is not active.")]


def test_an_inactive_session_is_reported_with_its_candid_and_visit():
    session = Session(candid="300001", visit_label="V1", active=False)

    failures = failed_rules(SCAN, ACTIVE_CANDIDATE, session)

    assert failures == [RuleFailure(rule="session_active", message="Visit V1 of CandID 300001 is not active.")]


def test_wrong_pscid_inactive_candidate_and_missing_visit_are_all_reported_together_in_that_order():
    candidate = Candidate(candid="300001", pscid="MTL0002", active=False, site="Montreal")

    failures = failed_rules(SCAN, candidate, None)

    assert [f.rule for f in failures] == ["pscid_matches_candid", "candidate_active", "visit_exists"]
    assert messages(failures) == [
        "PSCID MTL0001 does not belong to CandID 300001; check both values.",
        "Candidate 300001 (PSCID MTL0002) is not active.",
        "Visit label V1 does not exist for CandID 300001; check both values.",
    ]


def test_an_inactive_candidate_with_an_inactive_visit_gets_both_failures():
    candidate = Candidate(candid="300001", pscid="MTL0001", active=False, site="Montreal")
    session = Session(candid="300001", visit_label="V1", active=False)

    assert [f.rule for f in failed_rules(SCAN, candidate, session)] == ["candidate_active", "session_active"]


async def test_a_valid_scan_passes_the_check_after_asking_for_its_candidate_and_visit():
    registry = FakeRegistry([ACTIVE_CANDIDATE], [ACTIVE_SESSION])

    assert await check_scan(registry, SCAN) == []
    assert registry.asked == [("candidate", "300001"), ("session", "300001", "V1")]


async def test_a_scan_of_an_unknown_candid_fails_once_and_its_visit_is_not_looked_up():
    registry = FakeRegistry()

    failures = await check_scan(registry, SCAN)

    assert messages(failures) == ["CandID 300001 does not exist."]
    assert registry.asked == [("candidate", "300001")]


async def test_a_scan_of_a_known_candidate_with_an_unknown_visit_fails_naming_both():
    registry = FakeRegistry([ACTIVE_CANDIDATE], [Session(candid="300001", visit_label="V2", active=True)])

    failures = await check_scan(registry, SCAN)

    assert messages(failures) == ["Visit label V1 does not exist for CandID 300001; check both values."]


async def test_several_failures_found_by_the_check_are_reported_together():
    registry = FakeRegistry([Candidate(candid="300001", pscid="OTHER1", active=False, site="Montreal")])

    failures = await check_scan(registry, SCAN)

    assert [f.rule for f in failures] == ["pscid_matches_candid", "candidate_active", "visit_exists"]


async def test_a_phantom_scan_passes_without_the_registry_being_asked():
    registry = FakeRegistry()

    assert await check_scan(registry, PHANTOM) == []
    assert registry.asked == []
