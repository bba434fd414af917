"""The `uploader-admin` console script, run as an administrator would, on this run's database."""

import io
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pydicom
import pytest

from services.gateway.auth.passwords import verify_password
from services.gateway.auth.users import find_login, find_user_by_token

ADMIN = Path(sys.executable).parent / "uploader-admin"
DEMO_PATIENT_NAME = "MTL0001_300001_V1"
ALLOWED_PERMISSIONS = ("imaging_uploader_admin", "imaging_uploader_allsites", "imaging_uploader_nosessionid",
                       "imaging_uploader_ownsites")


@pytest.fixture
def admin(database_url):
    """Runs uploader-admin with these arguments; standard input is `stdin` (never a terminal)."""

    def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(ADMIN), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**os.environ, "UPLOADER_DATABASE_URL": database_url},
            timeout=60,
        )
        assert "Traceback" not in result.stderr
        return result

    return run


@pytest.fixture
def name(pool) -> str:
    """A user name no other test uses (the pool fixture has applied the migrations)."""
    return f"user_{uuid.uuid4().hex[:8]}"


def listed_row(admin, username: str) -> list[str]:
    """The cells of the user's row in `user list`."""
    result = admin("user", "list")
    assert result.returncode == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "SITES", "PERMISSIONS", "PASSWORD", "TOKENS"]
    matching = [row for row in rows if row.split()[0] == username]
    assert len(matching) == 1, result.stdout
    return [cell.strip() for cell in matching[0].split("  ") if cell.strip()]


# --- users ------------------------------------------------------------------


async def test_user_add_says_what_the_user_now_has_and_list_shows_it(admin, name):
    result = admin("user", "add", name, "--site", "OTT", "--site", "MTL", "--permission", "imaging_uploader_ownsites")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"User '{name}' now has sites MTL, OTT and permissions imaging_uploader_ownsites.\n"
    assert listed_row(admin, name) == [name, "MTL, OTT", "imaging_uploader_ownsites", "not set", "0"]


async def test_user_add_again_sets_the_sites_and_permissions_to_the_new_ones(admin, name):
    admin("user", "add", name, "--site", "MTL", "--permission", "imaging_uploader_ownsites")

    first = admin("user", "add", name, "--permission", "imaging_uploader_allsites")
    second = admin("user", "add", name, "--permission", "imaging_uploader_allsites")

    assert first.stdout == second.stdout == f"User '{name}' now has no sites and permissions imaging_uploader_allsites.\n"
    assert listed_row(admin, name) == [name, "-", "imaging_uploader_allsites", "not set", "0"]


async def test_an_unknown_permission_exits_2_naming_the_allowed_ones(admin, name):
    result = admin("user", "add", name, "--permission", "imaging_uploader_everything")

    assert result.returncode == 2
    assert "'imaging_uploader_everything' is not an uploader permission" in result.stderr
    for permission in ALLOWED_PERMISSIONS:
        assert permission in result.stderr
    assert name not in admin("user", "list").stdout


async def test_user_grant_adds_a_permission_and_keeps_the_others_and_the_sites(admin, name):
    admin("user", "add", name, "--site", "MTL", "--permission", "imaging_uploader_ownsites")

    first = admin("user", "grant", name, "imaging_uploader_admin")
    again = admin("user", "grant", name, "imaging_uploader_admin")

    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout == (
        f"User '{name}' now has permissions imaging_uploader_admin, imaging_uploader_ownsites.\n")
    assert listed_row(admin, name) == [name, "MTL", "imaging_uploader_admin, imaging_uploader_ownsites", "not set", "0"]


async def test_user_revoke_takes_only_the_permissions_named_away(admin, name):
    admin("user", "add", name, "--permission", "imaging_uploader_allsites", "--permission", "imaging_uploader_admin")

    result = admin("user", "revoke", name, "imaging_uploader_admin")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"User '{name}' now has permissions imaging_uploader_allsites.\n"


async def test_a_grant_to_an_unknown_user_or_of_an_unknown_permission_changes_nothing(admin, name):
    unknown_user = admin("user", "grant", name, "imaging_uploader_admin")
    unknown_permission = admin("user", "grant", "demo", "imaging_uploader_everything")

    assert unknown_user.returncode == 1
    assert unknown_user.stderr == (
        f"uploader-admin: There is no user named '{name}'. Add it first with: uploader-admin user add {name}\n")
    assert unknown_permission.returncode == 2
    assert "'imaging_uploader_everything' is not an uploader permission" in unknown_permission.stderr


# --- passwords --------------------------------------------------------------


async def verify_login(pool, username: str, password: str):
    """The user, if this password signs it in."""
    found = await find_login(pool, username)
    return found.user if found and verify_password(found.password_hash, password) else None


async def test_the_password_is_the_first_line_of_stdin_and_lets_the_user_log_in(admin, name, pool):
    admin("user", "add", name, "--permission", "imaging_uploader_allsites")

    result = admin("user", "password", name, stdin="correct horse battery\nsecond line\n")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"The password of '{name}' is set.\n"
    user = await verify_login(pool, name, "correct horse battery")
    assert user is not None and user.username == name
    assert await verify_login(pool, name, "correct horse battery\n") is None
    assert await verify_login(pool, name, "second line") is None
    assert listed_row(admin, name)[3] == "set"


async def test_an_empty_password_is_refused(admin, name, pool):
    admin("user", "add", name)

    result = admin("user", "password", name, stdin="\n")

    assert result.returncode == 1
    assert result.stderr == (
        "uploader-admin: The password is empty: give it on the first line of standard input.\n"
    )
    assert await verify_login(pool, name, "") is None
    assert listed_row(admin, name)[3] == "not set"


async def test_the_password_of_an_unknown_user_is_one_line_on_stderr(admin, name):
    result = admin("user", "password", name, stdin="correct horse battery\n")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"uploader-admin: There is no user named '{name}'. Add it first with: uploader-admin user add {name}\n"
    )


async def test_a_user_without_a_password_cannot_log_in(admin, name, pool):
    admin("user", "add", name, "--permission", "imaging_uploader_allsites")

    assert await verify_login(pool, name, "") is None
    assert await verify_login(pool, name, "anything") is None


# --- tokens -----------------------------------------------------------------


async def test_token_issue_prints_only_a_token_that_authenticates_the_user(admin, name, pool):
    admin("user", "add", name, "--site", "OTT", "--permission", "imaging_uploader_ownsites")

    result = admin("token", "issue", name)

    assert result.returncode == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert token and "\n" not in token and " " not in token
    user = await find_user_by_token(pool, token)
    assert user is not None
    assert (user.username, user.sites, user.permissions) == (name, ("OTT",), {"imaging_uploader_ownsites"})
    assert listed_row(admin, name)[4] == "1"


async def test_a_revoked_token_no_longer_authenticates(admin, name, pool):
    admin("user", "add", name, "--permission", "imaging_uploader_allsites")
    token = admin("token", "issue", name).stdout.strip()

    result = admin("token", "revoke", token)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "The token is revoked: it no longer gives access.\n"
    assert await find_user_by_token(pool, token) is None
    assert listed_row(admin, name)[4] == "0"


async def test_revoking_an_unknown_token_exits_1(admin, pool):
    result = admin("token", "revoke", "no-such-token")

    assert result.returncode == 1
    assert result.stderr == "uploader-admin: No API token matches the one given: nothing was revoked.\n"


async def test_a_token_for_an_unknown_user_is_refused(admin, name):
    result = admin("token", "issue", name)

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"There is no user named '{name}'." in result.stderr


# --- the demo archive -------------------------------------------------------


def dicom_files_in(archive: Path) -> list[pydicom.Dataset]:
    with tarfile.open(archive, "r:gz") as tar:
        members = [member for member in tar.getmembers() if member.isfile()]
        return [pydicom.dcmread(io.BytesIO(tar.extractfile(member).read())) for member in members]


def test_demo_archive_writes_dicom_files_of_candidate_mtl0001_visit_v1(admin, tmp_path):
    result = admin("demo-archive", "--output", str(tmp_path))

    assert result.returncode == 0, result.stderr
    archive = tmp_path / "MTL0001_300001_V1.tgz"
    assert result.stdout == f"{archive}\n"
    datasets = dicom_files_in(archive)
    assert len(datasets) >= 2
    for dataset in datasets:
        assert dataset.PatientName == DEMO_PATIENT_NAME
        assert (dataset.Rows, dataset.Columns, dataset.Modality) == (8, 8, "MR")


def test_the_demo_archive_holds_no_other_identifying_patient_tag(admin, tmp_path):
    admin("demo-archive", "--output", str(tmp_path))

    for dataset in dicom_files_in(tmp_path / "MTL0001_300001_V1.tgz"):
        patient_tags = {element.keyword: element.value for element in dataset if element.tag.group == 0x0010}
        filled = {keyword for keyword, value in patient_tags.items() if value not in ("", None)}
        assert filled == {"PatientName", "PatientID"}


def test_demo_archive_writes_into_the_current_folder_by_default(admin, tmp_path):
    result = admin("demo-archive", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path / 'MTL0001_300001_V1.tgz'}\n"
    assert (tmp_path / "MTL0001_300001_V1.tgz").is_file()


def test_the_broken_demo_archive_holds_another_patient_name_than_its_name(admin, tmp_path):
    result = admin("demo-archive", "--broken", "--output", str(tmp_path))

    assert result.returncode == 0, result.stderr
    archive = tmp_path / "MTL0001_300001_V1_broken.tgz"
    assert result.stdout == f"{archive}\n"
    datasets = dicom_files_in(archive)
    assert datasets
    assert all(dataset.PatientName != DEMO_PATIENT_NAME for dataset in datasets)


def test_the_reference_pipeline_passes_the_demo_archive_and_fails_the_broken_one(admin, tmp_path):
    good = Path(admin("demo-archive", "--output", str(tmp_path)).stdout.strip())
    broken = Path(admin("demo-archive", "--broken", "--output", str(tmp_path)).stdout.strip())

    def pipeline(archive: Path) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pipeline", "--upload-id", "1", f"--patient-name={DEMO_PATIENT_NAME}", str(archive)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert pipeline(good).returncode == 0
    failed = pipeline(broken)
    assert failed.returncode == 151
    assert f"The PatientName differs from '{DEMO_PATIENT_NAME}' in 3 of 3 DICOM files." in failed.stdout + failed.stderr
