"""python -m pipeline --upload-id ID [--patient-name NAME] ARCHIVE_PATH

Extracts the scan archive into a temporary work directory, checks its DICOM
files, removes the work directory and exits with a LORIS-MRI exit code. The
archive itself is left in place. Each stdout line starts with a tag the
launcher reads: "[info] " for the summary log, "[verbose] " for the detailed
log and "[error] " for why the run failed.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from pipeline import PipelineFailure
from pipeline.archive import archive_kind, extract_archive
from pipeline.dicom_scan import (
    ScanResult,
    check_dicom_files_found,
    check_only_dicom_files,
    check_patient_name,
    scan_directory,
)
from services.common.exit_codes import ExitCode, describe_exit_code

FILES_LISTED_AS_ERRORS = 10  # further offending files go to the detailed log


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    archive = Path(args.archive_path)
    info(f"Upload {args.upload_id}: checking {archive.name}")
    work_dir = Path(tempfile.mkdtemp(prefix="uploader-pipeline-"))
    try:  # at once: a SIGTERM that comes after the directory exists must go through its removal
        verbose(f"Work directory: {work_dir}")
        check_archive_path(archive)
        extract(archive, work_dir)
        scan = scan_directory(work_dir)
        report_scan(scan)
        check_dicom_files_found(scan, archive.name)
        check_only_dicom_files(scan, archive.name)
        check_patient_names(scan, args.patient_name)
    except PipelineFailure as failure:
        report_failure(failure)
        return failure.exit_code
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        verbose(f"Removed work directory {work_dir}")
    info(f"{archive.name} passed all checks")
    return ExitCode.SUCCESS


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        # LORIS-MRI exits with BAD_OPTIONS (1), where argparse would exit with 2.
        verbose(" ".join(self.format_usage().split()))
        error(f"Bad pipeline options: {message}.")
        error("Ask your LORIS administrator to check the pipeline command.")
        sys.exit(ExitCode.BAD_OPTIONS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[2])
    parser.add_argument("--upload-id", type=int, required=True, help="the upload's id")
    parser.add_argument(
        "--patient-name",
        default="",
        help="the PatientName every DICOM file must hold; omit or leave empty for a phantom scan",
    )
    parser.add_argument("archive_path", help="the .tar.gz, .tgz or .zip scan archive")
    return parser.parse_args(argv)


def check_archive_path(archive: Path) -> None:
    if not archive.is_file():
        raise PipelineFailure(
            ExitCode.INVALID_PATH,
            f"The scan archive {archive} does not exist.",
            "Upload the scan again; if this happens again, tell your LORIS administrator.",
        )
    archive_kind(archive)


def extract(archive: Path, work_dir: Path) -> None:
    count = extract_archive(archive, work_dir)
    info(f"Extracted {count_of(count, 'file')} from {archive.name}")


def report_scan(scan: ScanResult) -> None:
    for dicom in scan.dicom_files:
        series = "no series number" if dicom.series_number is None else f"series {dicom.series_number}"
        name = "no PatientName" if dicom.patient_name is None else f"PatientName {dicom.patient_name}"
        verbose(f"{dicom.path}: {series}, {name}")
    info(f"Found {count_of(len(scan.dicom_files), 'DICOM file')}")


def check_patient_names(scan: ScanResult, expected: str) -> None:
    if not expected:
        info("No PatientName given (phantom scan): PatientName check skipped")
        return
    check_patient_name(scan, expected)
    info(f"PatientName {expected} matches in all {count_of(len(scan.dicom_files), 'DICOM file')}")


def report_failure(failure: PipelineFailure) -> None:
    error(failure.message)
    for number, line in enumerate(failure.files):
        (error if number < FILES_LISTED_AS_ERRORS else verbose)(line)
    if len(failure.files) > FILES_LISTED_AS_ERRORS:
        error(f"{len(failure.files) - FILES_LISTED_AS_ERRORS} more files are listed in the detailed log.")
    error(failure.advice)
    verbose(f"Exit code {int(failure.exit_code)}: {describe_exit_code(failure.exit_code)}")


def count_of(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def info(text: str) -> None:
    _say("info", text)


def verbose(text: str) -> None:
    _say("verbose", text)


def error(text: str) -> None:
    _say("error", text)


def _say(tag: str, text: str) -> None:
    # One message per line: a newline inside a file name or an error must not
    # start an untagged line.
    print(f"[{tag}] {' '.join(text.splitlines())}", flush=True)


class _Terminated(BaseException):
    """SIGTERM arrived (the launcher stops the run); unwinds through main's cleanup."""


def _raise_terminated(signum, frame):
    raise _Terminated


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        sys.exit(main())
    except _Terminated:
        # The work directory is gone; now end by SIGTERM, as the launcher expects.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
