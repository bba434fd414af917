"""Who may upload and see which uploads: LORIS's three imaging uploader permissions.

- imaging_uploader_allsites: every upload, of every site, phantoms included;
- imaging_uploader_ownsites: the uploads of candidates of the user's own sites;
- imaging_uploader_nosessionid: the uploads with no session (phantom scans).

One more, of this uploader only, gives no uploads at all:

- imaging_uploader_admin: the operators' status page (queues, launchers,
  outboxes) and the replay of dead letters.

In LORIS site mode with LORIS's useAdvancedPermissions, own sites also means
own projects: a candidate's upload is the user's only when its project is one
of the user's too (UserScope.own_projects), as in LORIS.

A user also always sees the uploads they sent themselves, so that an upload
accepted while its site was still unknown never vanishes from its sender.
The same rule is written once here for Python and once as SQL.
"""

from services.common.messages import UserScope

ALL_SITES = "imaging_uploader_allsites"
OWN_SITES = "imaging_uploader_ownsites"
NO_SESSION = "imaging_uploader_nosessionid"
UPLOADER_PERMISSIONS = frozenset({ALL_SITES, OWN_SITES, NO_SESSION})  # any one of them lets a user use the uploader
ADMIN = "imaging_uploader_admin"
ALL_PERMISSIONS = UPLOADER_PERMISSIONS | {ADMIN}


def scope_of(username: str, permissions: frozenset[str] | set[str], sites: list[str] | tuple[str, ...],
             projects: tuple[str, ...] | None = None) -> UserScope:
    own_sites = OWN_SITES in permissions
    return UserScope(
        username=username,
        all_sites=ALL_SITES in permissions,
        own_sites=tuple(sorted(sites)) if own_sites else (),
        own_projects=tuple(sorted(projects)) if own_sites and projects is not None else None,
        no_session=NO_SESSION in permissions,
    )


def may_see(scope: UserScope, *, site: str | None, is_phantom: bool, uploaded_by: str | None,
             project: str | None = None) -> bool:
    if scope.all_sites or uploaded_by == scope.username:
        return True
    if is_phantom:
        return scope.no_session
    return site is not None and site in scope.own_sites and is_own_project(scope, project)


def is_own_project(scope: UserScope, project: str | None) -> bool:
    return scope.own_projects is None or (project is not None and project in scope.own_projects)


def visible_to_sql(scope: UserScope, first_parameter: int) -> tuple[str, list]:
    """The SQL condition of may_see on columns site, is_phantom and uploaded_by (and project, when the user's
    projects limit them), with its arguments numbered from `first_parameter`."""
    n = first_parameter
    own = f"site = ANY(${n + 3}::text[])"
    args = [scope.all_sites, scope.username, scope.no_session, list(scope.own_sites)]
    if scope.own_projects is not None:
        own += f" AND project = ANY(${n + 4}::text[])"
        args.append(list(scope.own_projects))
    condition = (
        f"(${n}::boolean OR uploaded_by = ${n + 1}"
        f" OR (is_phantom AND ${n + 2}::boolean)"
        f" OR (NOT is_phantom AND {own}))"
    )
    return condition, args
