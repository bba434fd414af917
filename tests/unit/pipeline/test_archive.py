"""Safe extraction of scan archives (pipeline.archive)."""

import io
import os
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from pipeline import PipelineFailure
from pipeline.archive import ArchiveLimits, archive_kind, extract_archive
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


def extraction_failure(archive: Path, work_dir: Path, limits: ArchiveLimits | None = None) -> PipelineFailure:
    with pytest.raises(PipelineFailure) as caught:
        extract_archive(archive, work_dir, limits)
    return caught.value


def archive_of(path: Path, files: dict[str, bytes]) -> Path:
    """A .tgz, .tar.gz or .zip (by its name) of these files, compressed."""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zip_file:
            for name, data in files.items():
                zip_file.writestr(name, data)
        return path
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return path


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
    ("member_type", "what"),
    [
        (tarfile.SYMTYPE, "a symbolic link"),
        (tarfile.LNKTYPE, "a hard link"),
        (tarfile.CHRTYPE, "a device"),
        (tarfile.BLKTYPE, "a device"),
        (tarfile.FIFOTYPE, "a FIFO"),
    ],
)
def test_a_tar_entry_other_than_a_file_or_folder_is_refused_and_named_even_pointing_inside(
    tmp_path, work_dir, member_type, what
):
    archive = tmp_path / "special.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"data"
        target = tarfile.TarInfo("study/file.txt")
        target.size = len(data)
        tar.addfile(target, io.BytesIO(data))
        special = tarfile.TarInfo("study/special")
        special.type = member_type
        special.linkname = "file.txt"
        tar.addfile(special)

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert failure.message == (f"The archive entry 'study/special' is unsafe to extract: it is {what}; "
                               "only regular files and folders are extracted.")
    assert files_under(tmp_path) == {"special.tgz"}, "nothing is extracted from an archive with an unsafe entry"


def test_a_zip_symbolic_link_is_refused_and_named(tmp_path, work_dir):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zip_file:
        link = zipfile.ZipInfo("study/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zip_file.writestr(link, "/etc/passwd")

    failure = extraction_failure(archive, work_dir)

    assert failure.message == ("The archive entry 'study/link' is unsafe to extract: it is a symbolic link; "
                               "only regular files and folders are extracted.")
    assert files_under(work_dir) == set()


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_an_archive_bomb_by_size_is_refused_before_anything_is_written(tmp_path, work_dir, ending):
    archive = archive_of(tmp_path / f"zeros{ending}", {"study/zeros.bin": b"\0" * (80 * 1024 * 1024)})

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert failure.message == (f"zeros{ending} was not extracted: it would unpack to more than 100 times its size "
                               "(UPLOADER_ARCHIVE_MAX_RATIO), as an archive bomb would.")
    assert files_under(work_dir) == set()


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_an_archive_over_the_unpacked_size_limit_is_refused(tmp_path, work_dir, ending):
    archive = archive_of(tmp_path / f"big{ending}", {f"study/{n}.bin": os.urandom(4096) for n in range(3)})

    failure = extraction_failure(archive, work_dir, ArchiveLimits(max_unpacked_bytes=10_000))

    assert failure.message == (f"big{ending} was not extracted: it would unpack to more than 9.8 KiB "
                               "(UPLOADER_ARCHIVE_MAX_UNPACKED_BYTES), as an archive bomb would.")
    assert files_under(work_dir) == set()


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_an_archive_bomb_by_member_count_is_refused(tmp_path, work_dir, ending):
    archive = archive_of(tmp_path / f"many{ending}", {f"study/{n}.txt": b"x" for n in range(101)})

    failure = extraction_failure(archive, work_dir, ArchiveLimits(max_members=100))

    assert failure.message == (f"many{ending} was not extracted: it holds more than 100 entries "
                               "(UPLOADER_ARCHIVE_MAX_MEMBERS), as an archive bomb would.")
    assert files_under(work_dir) == set()


def test_the_limits_are_read_from_uploader_archive_settings(monkeypatch):
    monkeypatch.setenv("UPLOADER_ARCHIVE_MAX_MEMBERS", "7")
    monkeypatch.setenv("UPLOADER_ARCHIVE_MAX_UNPACKED_BYTES", "1000")
    monkeypatch.setenv("UPLOADER_ARCHIVE_MAX_RATIO", "20")
    assert ArchiveLimits() == ArchiveLimits(max_members=7, max_unpacked_bytes=1000, max_ratio=20)
    monkeypatch.delenv("UPLOADER_ARCHIVE_MAX_MEMBERS")
    assert ArchiveLimits().max_members == 100_000


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_an_archive_that_is_not_an_archive_is_reported_as_corrupt(tmp_path, work_dir, ending):
    archive = tmp_path / f"scan{ending}"
    archive.write_bytes(b"this is not an archive at all\n" * 10)

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert failure.message.startswith(f"Could not extract scan{ending}: ")
    assert "upload it again" in failure.advice


def test_a_tar_gz_cut_short_just_after_a_whole_file_is_reported_as_corrupt_not_read_as_fewer_files(
        tmp_path, work_dir):
    whole = io.BytesIO()
    with tarfile.open(fileobj=whole, mode="w") as tar:
        for number in (1, 2, 3):
            member = tarfile.TarInfo(f"study/IM{number}.dcm")
            member.size = 1000
            tar.addfile(member, io.BytesIO(bytes([number]) * 1000))
    third_file = tarfile.open(fileobj=io.BytesIO(whole.getvalue())).getmembers()[2].offset
    # A gzip stream of the first two files, flushed but never ended: what a copy cut short there leaves.
    compressor = zlib.compressobj(wbits=31)
    archive = tmp_path / "scan.tgz"
    archive.write_bytes(compressor.compress(whole.getvalue()[:third_file]) + compressor.flush(zlib.Z_SYNC_FLUSH))

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert failure.message == ("Could not extract scan.tgz: Compressed file ended before the end-of-stream marker "
                               "was reached.")
    assert files_under(work_dir) == set()


@pytest.mark.parametrize("ending", ARCHIVE_ENDINGS)
def test_a_truncated_archive_is_reported_as_corrupt(tmp_path, work_dir, ending):
    archive = make_dicom_archive(tmp_path / f"scan{ending}", "MTL0001_300001_V1", n_files=5)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    failure = extraction_failure(archive, work_dir)

    assert failure.exit_code == ExitCode.EXTRACTION_FAILURE
    assert failure.message.startswith(f"Could not extract scan{ending}: ")
