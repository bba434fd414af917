"""Who sees which upload (services.common.scope): the same rule in Python and in SQL, projects included when
LORIS's useAdvancedPermissions makes them limit an own-sites user."""

import pytest

from services.common.messages import UserScope
from services.common.scope import may_see, scope_of, visible_to_sql

OWN_SITES_AND_PROJECTS = UserScope(username="mo", own_sites=("MTL",), own_projects=("Demo",))


@pytest.mark.parametrize(("site", "project", "seen"), [
    ("MTL", "Demo", True), ("MTL", "Other", False), ("MTL", None, False), ("OTT", "Demo", False)])
def test_an_own_sites_user_limited_by_projects_sees_a_candidate_s_upload_only_of_their_site_and_project(
        site, project, seen):
    assert may_see(OWN_SITES_AND_PROJECTS, site=site, project=project, is_phantom=False, uploaded_by="ana") is seen


def test_an_own_sites_user_not_limited_by_projects_sees_every_upload_of_their_site():
    scope = scope_of("mo", {"imaging_uploader_ownsites"}, ["MTL"], None)

    assert scope.own_projects is None
    assert may_see(scope, site="MTL", project="Other", is_phantom=False, uploaded_by="ana")


def test_the_sql_condition_names_projects_only_when_they_limit():
    standalone, standalone_args = visible_to_sql(UserScope(username="mo", own_sites=("MTL",)), 1)
    limited, limited_args = visible_to_sql(OWN_SITES_AND_PROJECTS, 3)

    assert "project" not in standalone and len(standalone_args) == 4
    assert "project = ANY($7::text[])" in limited and limited_args[-1] == ["Demo"]
