"""Safe extraction of scan archives (pipeline.archive)."""

import io
import tarfile
from pathlib import Path

import pytest

from pipeline import PipelineFailure
from pipeline.archive import archive_kind, extract_archive
from services.common.exit_codes import ExitCode
from tests.support.dicom_archives import make_archive_with_member, make_dicom_archive

ARCHIVE_ENDINGS = [".tar.gz", ".tgz", ".zip"]


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    # Two levels deep, so that "../../escape.txt" would land in tmp_path itself.
    path = tmp_path / "run" / "work"
    path.mkdir(parents=True)
    return path


def files_under(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if not path.is_dir()}


def extraction_failure(archive: Path, work_dir: Path) -> PipelineFailure:
    with pytest.raises(PipelineFailure) as caught:
        extract_archive(archive, work_dir)
    return caught.value


def tar_with_member(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_an_archive_is_extracted_into_the_work_directory_with_its_folders(tmp_path, work_dir, ending):
    archive = make_dicom_archive(tmp_path / f"MTL0001_300001_V1{ending}", "MTL0001_300001_V1", n_files=2)

    count = extract_archive(archive, work_dir)

    assert count == 2
    assert files_under(work_dir) == {"study/series1/IM0001.dcm", "study/series1/IM0002.dcm"}


def test_the_archive_type_comes_from_the_file_name_ending_in_any_case():
    assert archive_kind(Path("scan.tar.gz")) == "tar"
    assert archive_kind(Path("SCAN.TGZ")) == "tar"
    assert archive_kind(Path("scan.Zip")) == "zip"


@pytest.mark.parametrize("name", ["scan.rar", "scan.tar", "scan.tar.bz2", "scan.gz", "scan"])
def test_an_archive_with_another_ending_is_refused_as_the_wrong_file_type(name):
    with pytest.raises(PipelineFailure) as caught:
        archive_kind(Path(name))

    assert caught.value.exit_code == ExitCode.FILE_TYPE_CHECK_FAILURE
    assert name in caught.value.message
    assert ".tar.gz, .tgz or .zip" in caught.value.advice


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
@pytest.mark.parametrize("entry", ["../../escape.txt", "study/../../../escape.txt"])
def test_archive_entry_escaping_the_work_directory_is_refused_and_nothing_is_written(
    tmp_path, work_dir, ending, entry
):
    archive = make_archive_with_member(tmp_path / f"evil{ending}", entry, b"escaped")

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert repr(entry) in failure.message
    assert "outside the work directory" in failure.message
    assert files_under(tmp_path) == {f"evil{ending}"}


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_archive_entry_with_an_absolute_path_is_refused_and_nothing_is_written(tmp_path, work_dir, ending):
    archive = make_archive_with_member(tmp_path / f"evil{ending}", "/abs.txt", b"absolute")

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert "'/abs.txt'" in failure.message
    assert "absolute path" in failure.message
    assert files_under(tmp_path) == {f"evil{ending}"}


@pytest.mark.parametrize("ending", [".tgz", ".zip"])
def test_one_unsafe_entry_means_no_entry_is_extracted_at_all(tmp_path, work_dir, ending):
    archive = make_dicom_archive(
        tmp_path / f"scan{ending}", "MTL0001_300001_V1", extra_files={"../../escape.txt": b"escaped"}
    )

    failure = extraction_failure(archive, work_dir)

    assert "'../../escape.txt'" in failure.message
    assert files_under(tmp_path) == {f"scan{ending}"}


@pytest.mark.parametrize(
    ("link_type", "target", "reason"),
    [
        (tarfile.SYMTYPE, "../../outside", "link pointing outside the work directory"),
        (tarfile.SYMTYPE, "/etc/passwd", "link to an absolute path"),
        (tarfile.LNKTYPE, "../../outside", "outside the work directory"),
    ],
)
def test_a_tar_link_pointing_outside_the_work_directory_is_refused(
    tmp_path, work_dir, link_type, target, reason
):
    member = tarfile.TarInfo("study/link")
    member.type = link_type
    member.linkname = target
    archive = tar_with_member(tmp_path / "links.tgz", member)

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert "'study/link'" in failure.message
    assert reason in failure.message
    assert files_under(tmp_path) == {"links.tgz"}


def test_a_tar_device_file_is_refused(tmp_path, work_dir):
    member = tarfile.TarInfo("study/device")
    member.type = tarfile.CHRTYPE
    archive = tar_with_member(tmp_path / "device.tgz", member)

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert "'study/device'" in failure.message
    assert "special file" in failure.message
    assert files_under(work_dir) == set()


def test_a_tar_link_that_stays_inside_the_work_directory_is_extracted(tmp_path, work_dir):
    archive = tmp_path / "inside.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"data"
        target = tarfile.TarInfo("study/file.txt")
        target.size = len(data)
        tar.addfile(target, io.BytesIO(data))
        link = tarfile.TarInfo("study/link.txt")
        link.type = tarfile.SYMTYPE
        link.linkname = "file.txt"
        tar.addfile(link)

    extract_archive(archive, work_dir)

    assert (work_dir / "study" / "link.txt").read_bytes() == b"data"


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_an_archive_that_is_not_an_archive_is_reported_as_corrupt(tmp_path, work_dir, ending):
    archive = tmp_path / f"scan{ending}"
    archive.write_bytes(b"this is not an archive at all\n" * 10)

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert failure.message.startswith(f"Could not extract scan{ending}: ")
    assert "upload it again" in failure.advice


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_a_truncated_archive_is_reported_as_corrupt(tmp_path, work_dir, ending):
    archive = make_dicom_archive(tmp_path / f"scan{ending}", "MTL0001_300001_V1", n_files=5)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert failure.message.startswith(f"Could not extract scan{ending}: ")
