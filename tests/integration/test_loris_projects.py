"""LORIS site mode with LORIS's Config useAdvancedPermissions true: own sites also means own projects, as in LORIS.
An own-sites user may upload only for the candidates of their sites whose project (the candidate's registration
project) is one of theirs (user_project_rel), and Browse, an upload's answer and its log show them only those
uploads. On the real MariaDB, PostgreSQL and RabbitMQ: the gateway, the validator and the logstore run in-process,
the gateway and the validator in LORIS site mode as the MariaDB user docs/loris-site.md grants, on a LORIS database
of this module's own (its Config is changed)."""

import contextlib
import uuid

import pytest

from loris_standin.demo import php_password_hash
from services.gateway.__main__ import build_app as build_gateway
from services.logstore.__main__ import build_app as build_logstore
from services.validator.__main__ import build_app as build_validator
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually
from tests.integration.test_loris_users import uploader_admin
from tests.integration.web_sign_in import PASSWORD
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app
from tests.support.loris import create_demo_loris_database, drop_loris_database, execute_as_admin, uploader_user_of

# The demo's candidate of site MTL and project Demo, and one this module registers at MTL in another project.
DEMO_PROJECT_CANDIDATE = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}
OTHER_PROJECT_CANDIDATE = {"candid": "600001", "pscid": "MTL6001", "visit_label": "V1"}


@pytest.fixture(scope="module")
async def loris_name(run_name):
    name = f"loris_{run_name}_projects"
    await create_demo_loris_database(name)
    await register_other_project_candidate(name)
    await execute_as_admin(name, """UPDATE Config c JOIN ConfigSettings s ON s.ID = c.ConfigID SET c.Value = 'true'
                                    WHERE s.Name = 'useAdvancedPermissions'""")
    yield name
    await drop_loris_database(name)


async def register_other_project_candidate(database: str) -> None:
    await execute_as_admin(database, "INSERT INTO Project (Name, Alias) VALUES ('Other', 'OTH')")
    await execute_as_admin(database, """INSERT INTO candidate (CandID, PSCID, RegistrationCenterID,
                                                               RegistrationProjectID, Active)
                                        SELECT %s, %s, psc.CenterID, Project.ProjectID, 'Y' FROM psc, Project
                                        WHERE psc.Alias = 'MTL' AND Project.Name = 'Other'""",
                           int(OTHER_PROJECT_CANDIDATE["candid"]), OTHER_PROJECT_CANDIDATE["pscid"])
    await execute_as_admin(database, """INSERT INTO session (CandidateID, CenterID, ProjectID, Visit_label, Active)
                                        SELECT ID, RegistrationCenterID, RegistrationProjectID, 'V1', 'Y'
                                        FROM candidate WHERE CandID = %s""", int(OTHER_PROJECT_CANDIDATE["candid"]))


@pytest.fixture(scope="module")
def granted_url(loris_name, tmp_path_factory):
    with uploader_user_of(loris_name, tmp_path_factory.mktemp("loris") / "password") as url:
        yield url.strip()


async def add_own_sites_user(database: str) -> str:
    """A LORIS user with imaging_uploader_ownsites, of site MTL and project Demo."""
    username = f"mo-{uuid.uuid4().hex[:8]}"
    await execute_as_admin(database, """INSERT INTO users (UserID, Real_name, Email, Active, Pending_approval,
                                                           PasswordChangeRequired, Password_hash)
                                        VALUES (%s, 'Own sites', %s, 'Y', 'N', 0, %s)""",
                           username, f"{username}@example.org", php_password_hash(PASSWORD))
    for table, column, chosen in (("permissions", "permID", "code = 'imaging_uploader_ownsites'"),
                                  ("psc", "CenterID", "Alias = 'MTL'"), ("Project", "ProjectID", "Name = 'Demo'")):
        relation = {"permissions": "user_perm_rel (userID, permID)", "psc": "user_psc_rel (UserID, CenterID)",
                    "Project": "user_project_rel (UserID, ProjectID)"}[table]
        await execute_as_admin(database, f"""INSERT INTO {relation} SELECT u.ID, t.{column} FROM users u, {table} t
                                             WHERE u.UserID = %s AND t.{chosen}""", username)
    return username


@pytest.fixture
async def stack(gateway_settings, logstore_settings, validator_settings, granted_url, database_url, loris_name,
                http, tap):
    """(the demo superuser's client, an own-sites user's client of site MTL and project Demo)."""
    username = await add_own_sites_user(loris_name)
    issued = uploader_admin(database_url, granted_url, "token", "issue", username)
    assert issued.returncode == 0, issued.stderr
    async with running_app(build_logstore(logstore_settings())) as logstore_url, \
            running_app(build_validator(validator_settings(loris_database_url=granted_url))):
        settings = gateway_settings(logstore_url=logstore_url, auto_launch=False, loris_database_url=granted_url)
        async with running_app(build_gateway(settings)) as gateway_url:
            yield UploaderClient(http, gateway_url, DEMO_TOKEN), UploaderClient(http, gateway_url,
                                                                                issued.stdout.strip())


def archive_of(tmp_path, candidate: dict) -> object:
    stem = f"{candidate['pscid']}_{candidate['candid']}_{candidate['visit_label']}"
    return make_dicom_archive(tmp_path / f"{stem}_{uuid.uuid4().hex[:8]}.tgz", stem, n_files=1)


async def accepted(client: UploaderClient, path, candidate: dict) -> int:
    answer = await client.upload(path, **candidate)
    assert answer.status == 202, await answer.text()
    return (await answer.json())["upload_id"]


async def test_an_own_sites_user_may_upload_only_for_candidates_of_their_projects(stack, tmp_path):
    _, own_sites = stack

    await accepted(own_sites, archive_of(tmp_path, DEMO_PROJECT_CANDIDATE), DEMO_PROJECT_CANDIDATE)
    refused = await own_sites.upload(archive_of(tmp_path, OTHER_PROJECT_CANDIDATE), **OTHER_PROJECT_CANDIDATE)
    checked = await own_sites.check(file_name="MTL6001_600001_V1.tgz", file_size=10, **OTHER_PROJECT_CANDIDATE)

    assert (refused.status, checked.status) == (403, 200)
    errors = (await refused.json())["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("project_not_permitted", "candid")]
    assert "imaging_uploader_ownsites with LORIS's useAdvancedPermissions; their projects: Demo" in errors[0]["message"]
    assert "CandID 600001 belongs to project Other" in errors[0]["message"]
    assert ((await checked.json())["ok"], (await checked.json())["errors"]) == (False, errors)


async def test_browse_the_upload_and_its_log_show_an_own_sites_user_only_uploads_of_their_projects(stack, tmp_path):
    superuser, own_sites = stack
    theirs = await accepted(superuser, archive_of(tmp_path, DEMO_PROJECT_CANDIDATE), DEMO_PROJECT_CANDIDATE)
    not_theirs = await accepted(superuser, archive_of(tmp_path, OTHER_PROJECT_CANDIDATE), OTHER_PROJECT_CANDIDATE)

    async def both_in_browse():
        items = (await (await superuser.get("/api/v1/uploads", page_size=100)).json())["items"]
        return {theirs, not_theirs} <= {item["upload_id"] for item in items}

    await eventually(both_in_browse, what="both uploads in the superuser's Browse")
    browsed = await (await own_sites.get("/api/v1/uploads", page_size=100)).json()
    seen = {item["upload_id"] for item in browsed["items"]}
    other_project_answers = [(await own_sites.get(path)).status for path in (
        f"/api/v1/uploads/{not_theirs}", f"/api/v1/uploads/{not_theirs}/log", f"/api/v1/uploads/{not_theirs}/runs")]
    own_project_answer = await own_sites.get(f"/api/v1/uploads/{theirs}")

    assert theirs in seen and not_theirs not in seen
    assert browsed["total"] == len(seen)
    assert other_project_answers == [404, 404, 404]
    assert own_project_answer.status == 200
