"""Safe extraction of .tar.gz, .tgz and .zip scan archives into a work directory.

Every entry is checked before anything is written, so an archive with one
unsafe entry extracts nothing at all.
"""

import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from pipeline import PipelineFailure
from services.common.exit_codes import ExitCode

TAR_ENDINGS = (".tar.gz", ".tgz")
ZIP_ENDINGS = (".zip",)
ACCEPTED_ENDINGS = ".tar.gz, .tgz or .zip"

# What a damaged or truncated archive raises while it is read.
_CORRUPTION_ERRORS = (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error)

_FILTER_REASONS = {
    tarfile.AbsolutePathError: "it is an absolute path",
    tarfile.OutsideDestinationError: "it would be written outside the work directory",
    tarfile.SpecialFileError: "it is a device or another special file",
    tarfile.AbsoluteLinkError: "it is a link to an absolute path",
    tarfile.LinkOutsideDestinationError: "it is a link pointing outside the work directory",
}


def archive_kind(archive: Path) -> str:
    """'tar' or 'zip', from the file name's ending."""
    name = archive.name.lower()
    if name.endswith(TAR_ENDINGS):
        return "tar"
    if name.endswith(ZIP_ENDINGS):
        return "zip"
    raise PipelineFailure(
        ExitCode.FILE_TYPE_CHECK_FAILURE,
        f"{archive.name} is not a {ACCEPTED_ENDINGS} archive.",
        f"Compress the scan as {ACCEPTED_ENDINGS} and upload it again.",
    )


def extract_archive(archive: Path, work_dir: Path) -> int:
    """Extract `archive` into `work_dir`; returns the number of files extracted."""
    extract = _extract_tar if archive_kind(archive) == "tar" else _extract_zip
    try:
        return extract(archive, work_dir)
    except tarfile.FilterError as error:
        reason = _FILTER_REASONS.get(type(error), str(error))
        raise _unsafe_entry(error.tarinfo.name, reason) from error
    except (*_CORRUPTION_ERRORS, NotImplementedError, RuntimeError) as error:
        # NotImplementedError: unknown zip compression; RuntimeError: encrypted zip.
        raise PipelineFailure(
            ExitCode.EXTRACTION_FAILURE,
            f"Could not extract {archive.name}: {str(error) or type(error).__name__}.",
            "Check that the archive opens on your computer, then upload it again.",
        ) from error


def _extract_tar(archive: Path, work_dir: Path) -> int:
    with tarfile.open(archive, mode="r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            _refuse_absolute_name(member.name)
            tarfile.data_filter(member, str(work_dir))  # raises FilterError
        tar.extractall(work_dir, members=members, filter="data")
    return sum(1 for member in members if member.isfile() or member.islnk())


def _extract_zip(archive: Path, work_dir: Path) -> int:
    root = work_dir.resolve()
    with zipfile.ZipFile(archive) as zip_file:
        members = zip_file.infolist()
        for member in members:
            _refuse_absolute_name(member.filename)
            if not (root / member.filename).resolve().is_relative_to(root):
                raise _unsafe_entry(member.filename, _FILTER_REASONS[tarfile.OutsideDestinationError])
        zip_file.extractall(work_dir)
    return sum(1 for member in members if not member.is_dir())


def _refuse_absolute_name(name: str) -> None:
    # tarfile and zipfile would quietly strip the leading "/"; an archive made
    # with absolute paths is refused instead, the same way for both formats.
    if PurePosixPath(name).is_absolute():
        raise _unsafe_entry(name, _FILTER_REASONS[tarfile.AbsolutePathError])


def _unsafe_entry(name: str, reason: str) -> PipelineFailure:
    return PipelineFailure(
        ExitCode.EXTRACTION_FAILURE,
        f"The archive entry {name!r} is unsafe to extract: {reason}.",
        "Recreate the archive with relative paths inside one folder, "
        "without links or special files, and upload it again.",
    )
