"""Safe extraction of .tar.gz, .tgz and .zip scan archives into a work directory.

By our own rules, not the interpreter's extraction filter:
- only regular files and folders are extracted: a link, a device or a FIFO is
  refused and named;
- every entry's path must stay inside the work directory (no absolute path,
  no ".."), and files are created new, never through a link;
- limits on the number of entries, the total unpacked size and the
  compression ratio (ArchiveLimits) fail a zip or tar bomb before the disk
  fills.

Every entry is checked before anything is written (a first pass reads the
headers only), so an archive with one unsafe entry extracts nothing. Files
are then copied in chunks: memory stays flat however large the archive. A
progress callback hears of the bytes written so far, out of the total.
"""

import gzip
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline import PipelineFailure
from services.common.exit_codes import ExitCode
from services.common.sizes import human_size

TAR_ENDINGS = (".tar.gz", ".tgz")
ZIP_ENDINGS = (".zip",)
ACCEPTED_ENDINGS = ".tar.gz, .tgz or .zip"
CHUNK_BYTES = 1024 * 1024
# Below this many unpacked bytes the ratio is not checked: a small archive that compresses well is no bomb.
RATIO_FLOOR_BYTES = 64 * 1024 * 1024

# What a damaged or truncated archive raises while it is read.
_CORRUPTION_ERRORS = (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error)
_OUTSIDE = "it would be written outside the work directory"
_ONLY_FILES = "only regular files and folders are extracted"

Progress = Callable[[int, int], None]  # (bytes written so far, bytes to write in all)


class ArchiveLimits(BaseSettings):
    """What an archive may unpack to; beyond, it is refused as a bomb (exit 60)."""

    model_config = SettingsConfigDict(env_prefix="UPLOADER_ARCHIVE_")

    max_members: int = Field(
        default=100_000, ge=1,
        description="the reference pipeline refuses an archive with more entries (exit 60), before it extracts "
                    "anything")
    max_unpacked_bytes: int = Field(
        default=200 * 1024**3, ge=1,
        description="the reference pipeline refuses an archive that would unpack to more bytes (exit 60)")
    max_ratio: float = Field(
        default=100.0, gt=1,
        description="the reference pipeline refuses an archive that would unpack to more than this many times its "
                    "size (exit 60; checked above 64 MiB unpacked): an archive bomb. The pipeline extracts only "
                    "regular files and folders (a link, a device or a FIFO is refused and named) and only inside "
                    "its work directory")


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # "file", "folder", or what else it is, in words
    size: int


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


def extract_archive(
    archive: Path, work_dir: Path, limits: ArchiveLimits | None = None, progress: Progress | None = None
) -> int:
    """Extract `archive` into `work_dir`; returns the number of files extracted."""
    limits = limits or ArchiveLimits()
    tar = archive_kind(archive) == "tar"
    try:
        total = _check_entries(archive, _tar_entries(archive) if tar else _zip_entries(archive), work_dir, limits)
        written = _Written(total, progress)
        return _extract_tar(archive, work_dir, written) if tar else _extract_zip(archive, work_dir, written)
    except (*_CORRUPTION_ERRORS, NotImplementedError, RuntimeError) as error:
        # NotImplementedError: unknown zip compression; RuntimeError: encrypted zip.
        raise PipelineFailure(
            ExitCode.EXTRACTION_FAILURE,
            f"Could not extract {archive.name}: {str(error) or type(error).__name__}.",
            "Check that the archive opens on your computer, then upload it again.",
        ) from error


def _check_entries(archive: Path, entries: Iterator[Entry], work_dir: Path, limits: ArchiveLimits) -> int:
    """Refuses an unsafe entry or a bomb; returns the number of bytes the files unpack to."""
    archive_bytes = max(archive.stat().st_size, 1)
    members = unpacked = 0
    for entry in entries:
        members += 1
        if members > limits.max_members:
            raise _bomb(archive, f"it holds more than {limits.max_members:,} entries", "UPLOADER_ARCHIVE_MAX_MEMBERS")
        if entry.kind not in ("file", "folder"):
            raise _unsafe_entry(entry.name, f"it is {entry.kind}; {_ONLY_FILES}")
        target_of(work_dir, entry.name)
        unpacked += entry.size
        if unpacked > limits.max_unpacked_bytes:
            raise _bomb(archive, f"it would unpack to more than {human_size(limits.max_unpacked_bytes)}",
                        "UPLOADER_ARCHIVE_MAX_UNPACKED_BYTES")
        if unpacked > RATIO_FLOOR_BYTES and unpacked > limits.max_ratio * archive_bytes:
            raise _bomb(archive, f"it would unpack to more than {limits.max_ratio:g} times its size",
                        "UPLOADER_ARCHIVE_MAX_RATIO")
    return unpacked


class _Written:
    """Counts the bytes written and tells the progress callback."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self._progress = total, 0, progress

    def add(self, size: int) -> None:
        self.done += size
        if self._progress:
            self._progress(self.done, self.total)


def target_of(work_dir: Path, name: str) -> Path:
    """Where an entry goes: inside the work directory, or refused."""
    path = PurePosixPath(name)
    if path.is_absolute():
        raise _unsafe_entry(name, "it is an absolute path")
    if ".." in path.parts:
        raise _unsafe_entry(name, _OUTSIDE)
    parts = [part for part in path.parts if part not in ("", ".")]
    if not parts:
        raise _unsafe_entry(name, "it has no name")
    return work_dir.joinpath(*parts)


@contextmanager
def _tar_stream(archive: Path) -> Iterator[tarfile.TarFile]:
    """The archive as a stream: headers read in turn, data read or skipped.

    tarfile reads a gzip stream cut short after a whole file as a smaller archive; read to its end, gzip
    checks its end marker and checksum, and raises EOFError for a truncated archive.
    """
    with gzip.open(archive) as compressed:
        with tarfile.open(fileobj=compressed, mode="r|") as tar:
            yield tar
        while compressed.read(CHUNK_BYTES):
            pass


def _tar_entries(archive: Path) -> Iterator[Entry]:
    with _tar_stream(archive) as tar:
        for member in tar:
            yield Entry(member.name, _tar_kind(member), member.size if member.isreg() else 0)


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.isreg():
        return "file"
    if member.isdir():
        return "folder"
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a FIFO"
    return "a special file"


def _zip_entries(archive: Path) -> Iterator[Entry]:
    with zipfile.ZipFile(archive) as zip_file:
        for member in zip_file.infolist():
            yield Entry(member.filename, _zip_kind(member), member.file_size)


def _zip_kind(member: zipfile.ZipInfo) -> str:
    if member.is_dir():
        return "folder"
    mode = member.external_attr >> 16  # a Unix mode, when the zip was made on Unix
    if stat.S_IFMT(mode) == 0 or stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"


def _extract_tar(archive: Path, work_dir: Path, written: _Written) -> int:
    files = 0
    with _tar_stream(archive) as tar:
        for member in tar:
            target = target_of(work_dir, member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                _write(target, tar.extractfile(member), written)
                files += 1
    return files


def _extract_zip(archive: Path, work_dir: Path, written: _Written) -> int:
    files = 0
    with zipfile.ZipFile(archive) as zip_file:
        for member in zip_file.infolist():
            target = target_of(work_dir, member.filename)
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                with zip_file.open(member) as source:  # reads at most its declared size, and checks its CRC
                    _write(target, source, written)
                files += 1
    return files


def _write(target: Path, source: BinaryIO, written: _Written) -> None:
    """A new file, never through a link, filled a chunk at a time."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(descriptor, "wb") as out:
        while chunk := source.read(CHUNK_BYTES):
            out.write(chunk)
            written.add(len(chunk))


def _unsafe_entry(name: str, reason: str) -> PipelineFailure:
    return PipelineFailure(
        ExitCode.EXTRACTION_FAILURE,
        f"The archive entry {name!r} is unsafe to extract: {reason}.",
        "Recreate the archive with relative paths inside one folder, "
        "without links or special files, and upload it again.",
        rejected={name: f"unsafe to extract: {reason}"},
    )


def _bomb(archive: Path, what: str, setting: str) -> PipelineFailure:
    return PipelineFailure(
        ExitCode.EXTRACTION_FAILURE,
        f"{archive.name} was not extracted: {what} ({setting}), as an archive bomb would.",
        "Check the archive holds only the scan's DICOM files; if it truly is this large, "
        f"ask an administrator to raise {setting}.",
    )
