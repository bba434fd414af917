"""The reference pipeline as the launcher runs it: `python -m pipeline ...` in a subprocess.

Each test checks the exit code and the lines a user would read.
"""

import signal
import subprocess
import sys

import pytest

from tests.support.dicom_archives import make_archive_with_member, make_dicom_archive
from tests.unit.pipeline.pipeline_runs import (
    NAME,
    ROOT,
    pipeline_command,
    pipeline_environment,
    run_pipeline,
    run_with_name,
)


@pytest.mark.parametrize("ending", [".tgz", ".tar.gz", ".zip"])
def test_a_valid_archive_passes_and_the_summary_says_how_many_dicom_files_were_found(tmp_path, ending):
    archive = make_dicom_archive(tmp_path / f"{NAME}{ending}", NAME, n_files=3)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 0
    # The summary log: a handful of lines; each check's own line is detail.
    assert run.tagged("info") == [
        f"Upload 42: checking {NAME}{ending}",
        "Found 3 DICOM files",
        f"{NAME}{ending} passed all checks",
    ]
    for detail in (f"Extracted 3 files from {NAME}{ending}",
                   f"PatientName {NAME} matches in all 3 DICOM files",
                   f"PatientID {NAME} matches in all 3 DICOM files",
                   "No identifying tag is filled in (24 tags checked in 3 DICOM files)",
                   "The DICOM files belong to one study",
                   "Series 1 (T1w): 1 NIfTI image made from 3 DICOM files"):
        assert detail in run.tagged("verbose")
    assert run.report("summary") == {
        "message": "1 series, 3 DICOM files: 1 NIfTI image created, none kept (no output directory)."}
    assert run.tagged("error") == []
    assert archive.exists(), "the launcher, not the pipeline, removes the archive"


def test_each_dicom_file_is_listed_in_the_detailed_log_with_its_series(tmp_path):
    archive = make_dicom_archive(tmp_path / f"{NAME}.tgz", NAME, n_files=2)

    run = run_with_name(tmp_path, archive)

    assert "study/series1/IM0001.dcm: series 1" in run.tagged("verbose")
    assert "study/series1/IM0002.dcm: series 1" in run.tagged("verbose")


def test_a_file_with_another_patient_name_fails_the_run_naming_the_file_and_the_label_but_not_the_name(tmp_path):
    names = [NAME, "MTL0002_300002_V1", NAME]
    archive = make_dicom_archive(tmp_path / f"{NAME}.tgz", NAME, patient_names=names)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 151
    assert run.error_lines_naming(f"study/series1/IM0002.dcm: the PatientName is not '{NAME}'")
    assert not any("MTL0002_300002_V1" in line for line in run.lines)
    assert run.error_lines_naming("1 of 3 DICOM files")
    assert run.tagged("error")[-1] == (
        "Fix the PatientName in these files, or rename the archive, and upload it again."
    )
    assert any(line.startswith("Exit code 151: ") for line in run.tagged("verbose"))


def test_with_many_mismatching_files_the_first_ten_are_errors_and_the_rest_are_detail(tmp_path):
    archive = make_dicom_archive(tmp_path / f"{NAME}.zip", NAME, n_files=12, patient_names=["OTHER"] * 12)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 151
    assert run.error_lines_naming("12 of 12 DICOM files")
    assert all(run.error_lines_naming(f"IM{number:04d}.dcm: the PatientName is not") for number in range(1, 11))
    assert not run.error_lines_naming("IM0011.dcm")
    assert f"study/series1/IM0011.dcm: the PatientName is not '{NAME}'" in run.tagged("verbose")
    assert run.error_lines_naming("2 more files are listed in the detailed log")


def test_a_dicom_file_without_patient_name_fails_the_run_as_a_patient_name_that_cannot_be_read(tmp_path):
    archive = make_dicom_archive(tmp_path / f"{NAME}.tgz", NAME, patient_names=[NAME, "", NAME])

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 170
    assert run.error_lines_naming("study/series1/IM0002.dcm has no PatientName")


@pytest.mark.parametrize("n_other_files", [0, 1])
def test_an_archive_without_dicom_files_fails_the_run_as_missing_files(tmp_path, n_other_files):
    extra = {"notes/README.txt": b"no scan here\n"} if n_other_files else {}
    archive = make_dicom_archive(tmp_path / f"{NAME}.tgz", NAME, n_files=0, extra_files=extra)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 63
    assert run.error_lines_naming(f"No DICOM files were found in {NAME}.tgz")
    assert "Found 0 DICOM files" in run.tagged("info")


def test_files_that_are_not_dicom_fail_the_run_naming_each_of_them(tmp_path):
    extra = {"README.txt": b"read me\n", "study/notes.pdf": b"%PDF-1.4\n"}
    archive = make_dicom_archive(tmp_path / f"{NAME}.zip", NAME, n_files=2, extra_files=extra)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 62
    assert run.error_lines_naming("README.txt: not a DICOM file")
    assert run.error_lines_naming("study/notes.pdf: not a DICOM file")
    assert run.error_lines_naming("2 of 4 files")
    assert "Remove the files that are not DICOM" in run.tagged("error")[-1]


@pytest.mark.parametrize("ending", [".tgz", ".zip"])
def test_archive_entry_escaping_the_work_directory_fails_the_run_and_writes_nothing_outside(tmp_path, ending):
    # The work directory is made in tmp_path/tmp, so "../../escape.txt" aims at tmp_path.
    archive = make_archive_with_member(tmp_path / f"{NAME}{ending}", "../../escape.txt", b"escaped")

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 60
    assert run.error_lines_naming("'../../escape.txt'", "outside the work directory")
    assert list(tmp_path.rglob("escape.txt")) == []
    assert list(run.temp_dir.iterdir()) == []


@pytest.mark.parametrize("ending", [".tgz", ".zip"])
def test_archive_entry_with_an_absolute_path_fails_the_run(tmp_path, ending):
    archive = make_archive_with_member(tmp_path / f"{NAME}{ending}", "/abs.txt", b"absolute")

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 60
    assert run.error_lines_naming("'/abs.txt'", "absolute path")


def test_a_corrupt_archive_fails_the_run_as_an_extraction_failure(tmp_path):
    archive = tmp_path / f"{NAME}.tgz"
    archive.write_bytes(b"not a gzip file\n" * 20)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 60
    assert run.error_lines_naming(f"Could not extract {NAME}.tgz")


def test_a_missing_archive_fails_the_run_as_an_invalid_path(tmp_path):
    archive = tmp_path / f"{NAME}.tgz"

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 5
    assert run.error_lines_naming(str(archive), "does not exist")


def test_an_archive_with_an_unsupported_ending_fails_the_run_as_the_wrong_file_type(tmp_path):
    archive = tmp_path / f"{NAME}.rar"
    archive.write_bytes(b"Rar!")

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 61
    assert run.error_lines_naming(f"{NAME}.rar", ".tar.gz, .tgz or .zip")


@pytest.mark.parametrize("options", [[], ["--patient-name", ""]], ids=["omitted", "empty"])
def test_without_a_patient_name_the_check_is_skipped_for_a_phantom_scan(tmp_path, options):
    archive = make_dicom_archive(tmp_path / "phantom.tgz", "PHANTOM_SITE1", n_files=2)

    run = run_pipeline(tmp_path, pipeline_command(archive, *options))

    assert run.exit_code == 0
    assert "No PatientName given (phantom scan): PatientName and PatientID checks skipped" in run.tagged("info")


@pytest.mark.parametrize(
    ("names", "expected_exit_code"),
    [([NAME, NAME], 0), ([NAME, "OTHER"], 151), (None, 60)],
    ids=["success", "failed-check", "corrupt-archive"],
)
def test_the_work_directory_is_removed_after_the_run(tmp_path, names, expected_exit_code):
    archive = tmp_path / f"{NAME}.zip"
    if names:
        make_dicom_archive(archive, NAME, n_files=len(names), patient_names=names)
    else:
        archive.write_bytes(b"PK\x03\x04 broken")

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == expected_exit_code
    work_dirs = [line for line in run.tagged("verbose") if line.startswith("Work directory: ")]
    assert work_dirs and work_dirs[0].startswith(f"Work directory: {run.temp_dir}/uploader-pipeline-")
    assert list(run.temp_dir.iterdir()) == []


@pytest.mark.parametrize(
    "arguments",
    [["--patient-name", NAME, "scan.tgz"], ["--upload-id", "x", "scan.tgz"], ["--upload-id", "42"]],
    ids=["no-upload-id", "upload-id-not-a-number", "no-archive"],
)
def test_bad_options_fail_the_run_with_the_bad_options_exit_code(tmp_path, arguments):
    run = run_pipeline(tmp_path, [sys.executable, "-m", "pipeline", *arguments])

    assert run.exit_code == 1
    assert run.error_lines_naming("Bad pipeline options")


def test_a_run_stopped_by_sigterm_removes_its_work_directory_and_ends_by_the_signal(tmp_path):
    # 800 detail lines of ~120 bytes overfill the stdout pipe (64 KiB): once this
    # test stops reading, the pipeline blocks mid-run, so SIGTERM arrives mid-run.
    long_name = "PHANTOM_" + "X" * 52
    archive = make_dicom_archive(tmp_path / "phantom.tgz", long_name, n_files=800)
    env, temp_dir = pipeline_environment(tmp_path)
    command = pipeline_command(archive)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with process:
        for line in process.stdout:
            if line.startswith("[verbose] Work directory: "):
                break
        process.send_signal(signal.SIGTERM)
        rest = process.stdout.read()
    assert process.returncode == -signal.SIGTERM, rest[-500:]
    assert "passed all checks" not in rest
    assert "Removed work directory" in rest
    assert list(temp_dir.iterdir()) == []
