"""The candidate and session rules of LORIS's imaging uploader.

Every rule that can be checked is checked, and each failure is one sentence
that names the values, so that a user can fix them all at once.
"""

from services.common.messages import RuleFailure, ScanFacts
from services.validator.registry import Candidate, CandidateRegistry, Session


async def check_scan(registry: CandidateRegistry, scan: ScanFacts) -> list[RuleFailure]:
    if scan.is_phantom:
        return []
    candidate = await registry.candidate(scan.candid)
    session = await registry.session(scan.candid, scan.visit_label) if candidate else None
    return failed_rules(scan, candidate, session)


def failed_rules(scan: ScanFacts, candidate: Candidate | None, session: Session | None) -> list[RuleFailure]:
    if candidate is None:
        return [RuleFailure(rule="candid_exists", message=f"CandID {scan.candid} does not exist.")]
    failures = []
    if candidate.pscid != scan.pscid:
        failures.append(
            RuleFailure(
                rule="pscid_matches_candid",
                message=f"PSCID {scan.pscid} does not belong to CandID {scan.candid}; check both values.",
            )
        )
    if not candidate.active:
        failures.append(
            RuleFailure(
                rule="candidate_active",
                message=f"Candidate {scan.candid} (PSCID {candidate.pscid}) is not active.",
            )
        )
    if session is None:
        failures.append(
            RuleFailure(
                rule="visit_exists",
                message=f"Visit label {scan.visit_label} does not exist for CandID {scan.candid}; check both values.",
            )
        )
    elif not session.active:
        failures.append(
            RuleFailure(
                rule="session_active",
                message=f"Visit {scan.visit_label} of CandID {scan.candid} is not active.",
            )
        )
    return failures
