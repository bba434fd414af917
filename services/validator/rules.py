"""The rules of LORIS's imaging uploader that the validator owns: the form
fields, the candidate and session in the registry, the user's site scope, and
the file-name rule.

Every rule that can be checked is checked, and each failure is one sentence
naming the values, so that a user can fix them all at once. The file-name
rule is checked only when the fields pass. A permission failure is reported
alone, so that a user learns nothing about another site's candidates.
"""

import re

from services.common.file_names import ALLOWED_ENDINGS_TEXT, stem_of
from services.common.messages import RuleCheckReply, RuleCheckRequest, RuleFailure, UserScope
from services.common.scope import ALL_SITES, NO_SESSION, OWN_SITES, is_own_project
from services.validator.registry import Candidate, CandidateRegistry, Session

_CANDID = re.compile(r"\d{6}")
_LABEL = re.compile(r"[A-Za-z0-9-]{1,255}")
_LABEL_FIELDS = {"pscid": "PSCID", "visit_label": "Visit label"}


async def check_upload(registry: CandidateRegistry, request: RuleCheckRequest) -> RuleCheckReply:
    if request.purpose == "visit_access":
        return await check_visit_access(registry, request)
    if request.is_phantom:
        return RuleCheckReply(failures=phantom_permission(request.scope))
    failures = field_format_failures(request)
    if failures:
        return RuleCheckReply(failures=failures)
    candidate = await registry.candidate(request.candid)
    if candidate is not None:
        denied = site_permission(request.scope, request, candidate)
        if denied:
            return RuleCheckReply(failures=denied, site=candidate.site, project=candidate.project)
    session = await registry.session(request.candid, request.visit_label) if candidate else None
    failures = registry_failures(request, candidate, session)
    if not failures and request.file_name is not None:
        failures = file_name_failures(request)
    return RuleCheckReply(failures=failures, site=candidate.site if candidate else None,
                          project=candidate.project if candidate else None)


async def check_visit_access(registry: CandidateRegistry, request: RuleCheckRequest) -> RuleCheckReply:
    """May the user reach this candidate's visit? The candidate exists and is of the user's sites; the visit exists."""
    failures = [f for f in field_format_failures(request) if f.field != "pscid"]
    if failures:
        return RuleCheckReply(failures=failures)
    candidate = await registry.candidate(request.candid)
    if candidate is None:
        return RuleCheckReply(failures=registry_failures(request, None, None))
    denied = site_permission(request.scope, request, candidate)
    if denied:
        return RuleCheckReply(failures=denied, site=candidate.site, project=candidate.project)
    session = await registry.session(request.candid, request.visit_label)
    failures = [f for f in registry_failures(request, candidate, session) if f.code == "visit_exists"]
    return RuleCheckReply(failures=failures, site=candidate.site, project=candidate.project)


def phantom_permission(scope: UserScope) -> list[RuleFailure]:
    if scope.all_sites or scope.no_session:
        return []
    return [RuleFailure(
        field="is_phantom", code="phantom_not_permitted", forbidden=True,
        message=f"User {scope.username} may not upload phantom scans: that needs the {NO_SESSION} "
                f"or {ALL_SITES} permission.",
    )]


def site_permission(scope: UserScope, request: RuleCheckRequest, candidate: Candidate) -> list[RuleFailure]:
    if scope.all_sites:
        return []
    if candidate.site in scope.own_sites:
        return project_permission(scope, request, candidate)
    if scope.own_sites:
        sites = ", ".join(scope.own_sites)
        message = (f"User {scope.username} may upload only for the candidates of site {sites} ({OWN_SITES}); "
                   f"CandID {request.candid} belongs to site {candidate.site}.")
    else:
        message = (f"User {scope.username} may upload only phantom scans; uploading for CandID "
                   f"{request.candid} needs the {OWN_SITES} or {ALL_SITES} permission.")
    return [RuleFailure(field="candid", code="site_not_permitted", message=message, forbidden=True)]


def project_permission(scope: UserScope, request: RuleCheckRequest, candidate: Candidate) -> list[RuleFailure]:
    """LORIS's useAdvancedPermissions: a candidate of the user's site is theirs only if of one of their projects."""
    if is_own_project(scope, candidate.project):
        return []
    projects = ", ".join(scope.own_projects) or "none"
    message = (f"User {scope.username} may upload only for the candidates of their own sites and projects "
               f"({OWN_SITES} with LORIS's useAdvancedPermissions; their projects: {projects}); "
               f"CandID {request.candid} belongs to project {candidate.project or 'none'}.")
    return [RuleFailure(field="candid", code="project_not_permitted", message=message, forbidden=True)]


def field_format_failures(request: RuleCheckRequest) -> list[RuleFailure]:
    failures = []
    if not request.candid:
        failures.append(_missing("candid", "CandID"))
    elif not _CANDID.fullmatch(request.candid):
        failures.append(RuleFailure(
            field="candid", code="invalid_candid",
            message=f"CandID {request.candid!r} is not valid: a CandID is 6 digits."))
    for field, label in _LABEL_FIELDS.items():
        value = getattr(request, field)
        if not value:
            failures.append(_missing(field, label))
        elif not _LABEL.fullmatch(value):
            failures.append(RuleFailure(
                field=field, code=f"invalid_{field}",
                message=f"{label} {value!r} is not valid: it may hold only letters, digits and '-'."))
    return failures


def _missing(field: str, label: str) -> RuleFailure:
    return RuleFailure(
        field=field, code=f"missing_{field}",
        message=f"{label} is required for a scan that is not a phantom; fill it in, or mark the scan as a phantom.")


def registry_failures(request: RuleCheckRequest, candidate: Candidate | None, session: Session | None) -> list[RuleFailure]:
    candid, pscid, visit = request.candid, request.pscid, request.visit_label
    if candidate is None:
        return [RuleFailure(field="candid", code="candid_exists", message=f"CandID {candid} does not exist.")]
    failures = []
    if candidate.pscid != pscid:
        failures.append(RuleFailure(
            field="pscid", code="pscid_matches_candid",
            message=f"PSCID {pscid} does not belong to CandID {candid}; check both values."))
    if not candidate.active:
        failures.append(RuleFailure(
            field="candid", code="candidate_active",
            message=f"Candidate {candid} (PSCID {candidate.pscid}) is not active."))
    if session is None:
        failures.append(RuleFailure(
            field="visit_label", code="visit_exists",
            message=f"Visit label {visit} does not exist for CandID {candid}; check both values."))
    elif not session.active:
        failures.append(RuleFailure(
            field="visit_label", code="session_active",
            message=f"Visit {visit} of CandID {candid} is not active."))
    return failures


def file_name_failures(request: RuleCheckRequest) -> list[RuleFailure]:
    """PSCID_CandID_VisitLabel, optionally followed by _suffix, matching the form."""
    expected = f"{request.pscid}_{request.candid}_{request.visit_label}"
    stem = stem_of(request.file_name)
    if stem == expected or (stem.startswith(expected + "_") and len(stem) > len(expected) + 1):
        return []
    return [RuleFailure(
        field="file", code="file_name_mismatch",
        message=f"File name {request.file_name!r} does not match the form: name it {expected} or "
                f"{expected}_<suffix>, followed by {ALLOWED_ENDINGS_TEXT}.")]
