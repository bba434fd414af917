"""python -m pipeline --upload-id ID [--patient-name NAME] [--output-dir DIR] ARCHIVE_PATH

Extracts the scan archive into a temporary work directory, checks its DICOM
files, writes the DICOM archive summary, converts each series to NIfTI,
removes the work directory and exits with a LORIS-MRI exit code. The archive
itself is left in place. Each stdout line starts with a tag the launcher
reads (pipeline.report): "[info] " for the summary log, "[verbose] " for the
detailed log, "[error] " for why the run failed and "[report] " for a JSON
object (a step, the archive summary, the counts, a file's outcome, the summary).
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from pipeline import PipelineFailure
from pipeline.report import NOT_PROCESSED, REJECTED, error, info, report, verbose
from pipeline.run import Job, run
from services.common.exit_codes import ExitCode, describe_exit_code

FILES_LISTED_AS_ERRORS = 10  # further offending files go to the detailed log


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    job = Job(args.upload_id, Path(args.archive_path), args.patient_name,
              Path(args.output_dir) if args.output_dir else None)
    info(f"Upload {job.upload_id}: checking {job.archive.name}")
    work_dir = Path(tempfile.mkdtemp(prefix="uploader-pipeline-"))
    try:  # at once: a SIGTERM that comes after the directory exists must go through its removal
        verbose(f"Work directory: {work_dir}")
        run(job, work_dir)
    except PipelineFailure as failure:
        report_failure(job, failure)
        return failure.exit_code
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        verbose(f"Removed work directory {work_dir}")
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
        help="the PatientName (and PatientID) every DICOM file must hold; omit or leave empty for a phantom scan",
    )
    parser.add_argument(
        "--output-dir",
        default="",
        help="where to keep the result (tarchive_info.json and nifti/); without it, nothing is kept",
    )
    parser.add_argument("archive_path", help="the .tar.gz, .tgz or .zip scan archive")
    return parser.parse_args(argv)


def report_failure(job: Job, failure: PipelineFailure) -> None:
    error(failure.message)
    for number, line in enumerate(failure.files):
        (error if number < FILES_LISTED_AS_ERRORS else verbose)(line)
    if len(failure.files) > FILES_LISTED_AS_ERRORS:
        error(f"{len(failure.files) - FILES_LISTED_AS_ERRORS} more files are listed in the detailed log.")
    error(failure.advice)
    why = describe_exit_code(failure.exit_code)
    verbose(f"Exit code {int(failure.exit_code)}: {why}")
    for path, reason in failure.rejected.items():
        job.files.set(path, REJECTED, reason)
    job.files.report_all(NOT_PROCESSED, f"the run stopped at the step '{job.steps.name}': {why}")
    report("summary", message=f"Failed with exit code {int(failure.exit_code)}: {failure.message}")


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
