"""The run, step by step, as LORIS-MRI's first steps: extract, read the DICOM headers, check them,
write the DICOM archive summary, convert each series to NIfTI, and tell what became of every file.
"""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import PipelineFailure
from pipeline.archive import ArchiveLimits, archive_kind, extract_archive
from pipeline.checks import (
    check_dicom_files_found,
    check_identifying_tags,
    check_only_dicom_files,
    check_patient_id,
    check_patient_name,
    check_single_study,
)
from pipeline.conversion import Converted, convert_series, find_dcm2niix, image_stem
from pipeline.dicom_scan import ScanResult, scan_directory
from pipeline.output import IMAGES, ResultFolder
from pipeline.report import (
    INSERTED,
    NOT_CONVERTED,
    NOT_DICOM,
    NOT_PROCESSED,
    REJECTED,
    FileOutcomes,
    Steps,
    error,
    info,
    report,
    verbose,
)
from pipeline.settings import PipelineSettings, load_settings
from pipeline.tarchive import Tarchive, summarise, write_info
from services.common.exit_codes import ExitCode, describe_exit_code
from services.common.sizes import count_of

CHECKING, EXTRACTING, READING = "Checking the archive", "Extracting", "Reading DICOM headers"
DEIDENTIFICATION, ONE_STUDY = "Checking de-identification", "Checking the study"
SUMMARISING, CONVERTING, DONE = "Writing the DICOM archive summary", "Converting to NIfTI", "Done"
DICOMDIR_REASON = "a DICOMDIR, the index of a CD or DVD export: not an image, so not checked"
NOT_KEPT = "its series was converted to NIfTI, but not kept: the pipeline ran without --output-dir"
FILES_LISTED_AS_ERRORS = 10  # further offending files go to the detailed log


@dataclass
class Made:
    """What a successful run made, as LORIS-MRI records it in LORIS's database."""

    tarchive_md5: str
    minc_created: int
    minc_inserted: int


@dataclass
class Job:
    upload_id: int
    archive: Path
    patient_name: str  # empty for a phantom scan
    output_dir: Path | None
    steps: Steps = field(default_factory=Steps)
    files: FileOutcomes = field(default_factory=FileOutcomes)
    made: Made | None = None  # once the run succeeded


@contextmanager
def work_directory(prefix: str) -> Iterator[Path]:
    """A temporary folder for the run, removed after, whatever ends it."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:  # at once: a SIGTERM that comes after the directory exists must go through its removal
        verbose(f"Work directory: {path}")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        verbose(f"Removed work directory {path}")


def run_to_exit_code(job: Job, work_dir: Path) -> ExitCode:
    """The whole run in work_dir; a failure told in error lines; LORIS-MRI's exit code."""
    try:
        run(job, work_dir)
    except PipelineFailure as failure:
        report_failure(job, failure)
        return failure.exit_code
    return ExitCode.SUCCESS


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


def run(job: Job, work_dir: Path) -> None:
    """The whole run; a failed check raises PipelineFailure."""
    job.steps.start(CHECKING, 0)
    settings, limits = load_settings()
    program = find_dcm2niix(settings.dcm2niix)
    check_archive_path(job.archive)
    root = work_dir / "archive"
    extract(job, root, limits)
    scan = read_headers(job, root, settings)
    check_dicom_files_found(scan, job.archive.name)
    check_only_dicom_files(scan, job.archive.name)
    check_deidentification(job, scan, settings)
    job.steps.start(ONE_STUDY, 52)
    check_single_study(scan)
    verbose("The DICOM files belong to one study")
    # One summary line for the checks; each one's own line is detail.
    info(f"{job.archive.name} passed all checks")
    with ResultFolder(job.output_dir) as result:
        tarchive = write_summary(job, scan, result)
        converted = convert(job, program, tarchive, root, work_dir, result)
        result.commit()
    finish(job, tarchive, converted, program)


def check_archive_path(archive: Path) -> None:
    if not archive.is_file():
        raise PipelineFailure(
            ExitCode.INVALID_PATH,
            f"The scan archive {archive} does not exist.",
            "Upload the scan again; if this happens again, tell your LORIS administrator.",
        )
    archive_kind(archive)


def extract(job: Job, root: Path, limits: ArchiveLimits) -> None:
    job.steps.start(EXTRACTING, 5)
    count = extract_archive(job.archive, root, limits, lambda done, total: job.steps.progress(
        EXTRACTING, 5, 30, done, total))
    verbose(f"Extracted {count_of(count, 'file')} from {job.archive.name}")


def read_headers(job: Job, root: Path, settings: PipelineSettings) -> ScanResult:
    job.steps.start(READING, 30)
    scan = scan_directory(root, settings.identifying_tags,
                          lambda done, total: job.steps.progress(READING, 30, 50, done, total))
    for dicom in scan.dicom_files:
        job.files.add(dicom.path, dicom.series_number)
        series = "no series number" if dicom.series_number is None else f"series {dicom.series_number}"
        verbose(f"{dicom.path}: {series}")  # not its PatientName: a phantom's, or a wrong one, may be anyone's
    for other in scan.other_files:
        job.files.set(other.path, NOT_DICOM, other.reason)
    for index in scan.indexes:
        job.files.set(index, NOT_PROCESSED, DICOMDIR_REASON)
        verbose(f"{index}: {DICOMDIR_REASON}")
    info(f"Found {count_of(len(scan.dicom_files), 'DICOM file')}")
    return scan


def check_deidentification(job: Job, scan: ScanResult, settings: PipelineSettings) -> None:
    job.steps.start(DEIDENTIFICATION, 50)
    in_all = f"in all {count_of(len(scan.dicom_files), 'DICOM file')}"
    if job.patient_name:
        check_patient_name(scan, job.patient_name)
        verbose(f"PatientName {job.patient_name} matches {in_all}")
        check_patient_id(scan, job.patient_name)
        verbose(f"PatientID {job.patient_name} matches {in_all}")
    else:
        info("No PatientName given (phantom scan): PatientName and PatientID checks skipped")
    tags = settings.identifying_tags
    if not tags:
        info("No identifying tags are checked: UPLOADER_IDENTIFYING_TAGS is empty")
        return
    verbose(f"Identifying tags checked: {', '.join(tags)}")
    check_identifying_tags(scan)
    verbose(f"No identifying tag is filled in ({count_of(len(tags), 'tag')} checked "
            f"in {count_of(len(scan.dicom_files), 'DICOM file')})")


def write_summary(job: Job, scan: ScanResult, result: ResultFolder) -> Tarchive:
    job.steps.start(SUMMARISING, 55)
    tarchive = summarise(job.archive, scan.dicom_files, job.patient_name)
    # Detail: the launcher puts the tarchive report in the summary log, in words, and the summary below too.
    verbose(f"DICOM archive {tarchive.tarchive}: study date {tarchive.study_date or 'unknown'}, "
            f"{count_of(len(tarchive.series), 'series', 'series')}, {count_of(tarchive.files, 'DICOM file')}")
    for series in tarchive.series:
        verbose(f"{series.label()}: {series.modality or 'no modality'}, {count_of(len(series.files), 'DICOM file')}")
    verbose(f"md5 of {job.archive.name}: {tarchive.md5}")
    if result.path:
        write_info(tarchive, result.path, job.archive.name, job.upload_id)
    report("tarchive", **tarchive.as_report())
    return tarchive


def convert(job: Job, program: str | None, tarchive: Tarchive, root: Path, work_dir: Path,
            result: ResultFolder) -> list[Converted]:
    job.steps.start(CONVERTING, 60)
    if program is None:
        info("dcm2niix is not installed: the series are not converted to NIfTI")
        for series in tarchive.series:
            _set_outcome(job, series.files, NOT_CONVERTED, "dcm2niix is not installed")
        return []
    verbose(f"Converting with {program}")
    converted = []
    for number, series in enumerate(tarchive.series, start=1):
        done = convert_series(program, series, number, root, work_dir, image_stem(tarchive.name, series, number))
        converted.append(done)
        _keep(job, done, result)
        job.steps.progress(CONVERTING, 60, 95, number, len(tarchive.series))
    if not any(done.images for done in converted):
        report("counts", minc_created=0, minc_inserted=0)
        raise PipelineFailure(
            ExitCode.NO_VALID_IMAGES_CREATED,
            f"dcm2niix made no NIfTI image from the {count_of(len(converted), 'series', 'series')}.",
            "Check that the archive holds the scan's image files, then upload it again.",
            [f"{done.series.label()}: {done.reason}" for done in converted],
        )
    return converted


def _keep(job: Job, done: Converted, result: ResultFolder) -> None:
    for line in done.output:
        verbose(f"dcm2niix: {line}")
    label, files = done.series.label(), done.series.files
    if not done.images:
        info(f"{label} was not converted: {done.reason}")
        _set_outcome(job, files, NOT_CONVERTED, done.reason)
        return
    verbose(f"{label}: {count_of(len(done.images), 'NIfTI image')} made from {count_of(len(files), 'DICOM file')}")
    kept = [result.keep_image(image) for image in done.images]
    for path in kept:
        if path:
            verbose(f"Kept {IMAGES}/{path.name}")
    _set_outcome(job, files, INSERTED if all(kept) else NOT_PROCESSED, None if all(kept) else NOT_KEPT)


def _set_outcome(job: Job, files: tuple[str, ...], outcome: str, reason: str | None) -> None:
    for path in files:
        job.files.set(path, outcome, reason)


def finish(job: Job, tarchive: Tarchive, converted: list[Converted], program: str | None) -> None:
    created = sum(len(done.images) for done in converted)
    inserted = created if job.output_dir else 0
    report("counts", minc_created=created, minc_inserted=inserted)
    job.made = Made(tarchive.md5, created, inserted)
    job.files.report_all(NOT_PROCESSED, None)
    job.steps.start(DONE, 100)
    report("summary", message=summary_sentence(tarchive, converted, program, created, inserted))
    if job.output_dir:
        verbose(f"Output directory: {job.output_dir}")


def summary_sentence(tarchive: Tarchive, converted: list[Converted], program: str | None, created: int,
                     inserted: int) -> str:
    """'3 series, 120 DICOM files: 3 NIfTI images created and kept.'"""
    scan = f"{count_of(len(tarchive.series), 'series', 'series')}, {count_of(tarchive.files, 'DICOM file')}"
    if program is None:
        return f"{scan}: not converted to NIfTI (dcm2niix is not installed)."
    images = count_of(created, "NIfTI image")
    made = f"{images} created and kept" if inserted else f"{images} created, none kept (no output directory)"
    failed = sum(1 for done in converted if not done.images)
    return f"{scan}: {made}; {count_of(failed, 'series', 'series')} not converted." if failed else f"{scan}: {made}."
