"""python -m pipeline --upload-id ID [--patient-name NAME] [--output-dir DIR] [--loris-upload-id N] ARCHIVE_PATH

Extracts the scan archive into a temporary work directory, checks its DICOM
files, writes the DICOM archive summary, converts each series to NIfTI,
removes the work directory and exits with a LORIS-MRI exit code. The archive
itself is left in place. Each stdout line starts with a tag the launcher
reads (pipeline.report): "[info] " for the summary log, "[verbose] " for the
detailed log, "[error] " for why the run failed and "[report] " for a JSON
object (a step, the archive summary, the counts, a file's outcome, the summary).

With --loris-upload-id it also behaves as LORIS-MRI's imaging_upload_file.pl
does toward the LORIS database (UPLOADER_LORIS_MRI_DATABASE_URL): see
pipeline/loris_site.py.
"""

import argparse
import sys
from pathlib import Path

from pipeline.loris_site import run_for_loris_site
from pipeline.report import error, info, verbose
from pipeline.run import Job, run_to_exit_code, work_directory
from pipeline.termination import exit_with
from services.common.exit_codes import ExitCode

WORK_DIR_PREFIX = "uploader-pipeline-"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    job = Job(args.upload_id, Path(args.archive_path), args.patient_name,
              Path(args.output_dir) if args.output_dir else None)
    if args.loris_upload_id is not None:
        return run_for_loris_site(job, args.loris_upload_id)
    info(f"Upload {job.upload_id}: checking {job.archive.name}")
    with work_directory(WORK_DIR_PREFIX) as work_dir:
        return run_to_exit_code(job, work_dir)


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
    parser.add_argument(
        "--loris-upload-id",
        type=int,
        help="LORIS site mode: the upload's mri_upload.UploadID in the LORIS database of "
             "UPLOADER_LORIS_MRI_DATABASE_URL; the run then behaves as imaging_upload_file.pl does toward it (the "
             "PatientName is the row's; --patient-name is not read)",
    )
    parser.add_argument("archive_path", help="the .tar.gz, .tgz or .zip scan archive")
    return parser.parse_args(argv)


if __name__ == "__main__":
    exit_with(main)
