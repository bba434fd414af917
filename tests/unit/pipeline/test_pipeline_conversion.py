"""The reference pipeline's DICOM archive summary and NIfTI conversion, and its output directory.

dcm2niix is one of the project's pinned dependencies: the set-up installs it
next to Python, and these tests fail (they do not skip) when it is missing.
"""

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pipeline.__main__ as pipeline_main
from tests.support.dicom_archives import make_dicom_archive, series_members, write_archive
from tests.unit.pipeline.pipeline_runs import NAME, ROOT, pipeline_command, pipeline_environment, run_with_name

TARCHIVE = f"DCM_2024-01-05_{NAME}"
STEP_NAMES = ["Checking the archive", "Extracting", "Reading DICOM headers", "Checking de-identification",
              "Checking the study", "Writing the DICOM archive summary", "Converting to NIfTI", "Done"]
NOT_KEPT = "its series was converted to NIfTI, but not kept: the pipeline ran without --output-dir"
BROKEN_PIXELS = {"PixelData": b"\0" * 10}  # far fewer bytes than 8 x 8 pixels: dcm2niix refuses the slice


def three_series(tmp_path: Path, name: str = f"{NAME}.tgz", **broken: dict) -> Path:
    """Series 2 (T1w, 3 files), 5 (T2w, 2 files) and 11 (FLAIR, 4 files); `broken` gives a series' extra tags."""
    members = (series_members(NAME, 11, 4, series_description="FLAIR", extra_tags=broken.get("s11"))
               | series_members(NAME, 2, 3, series_description="T1w", extra_tags=broken.get("s2"))
               | series_members(NAME, 5, 2, series_description="T2w", extra_tags=broken.get("s5")))
    return write_archive(tmp_path / name, members)


def tree(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


def test_dcm2niix_is_installed_next_to_python():
    assert (Path(sys.executable).parent / "dcm2niix").is_file(), "pyproject.toml pins dcm2niix: run the set-up"


def test_three_series_become_three_nifti_images_kept_in_the_output_directory(tmp_path):
    archive = three_series(tmp_path)
    output = tmp_path / "results" / "upload-42"

    run = run_with_name(tmp_path, archive, "--output-dir", str(output))

    assert run.exit_code == 0, run.tagged("error")
    info = run.tagged("info")
    assert info[info.index(f"{NAME}.tgz passed all checks"):] == [f"{NAME}.tgz passed all checks"]
    verbose = run.tagged("verbose")
    assert "Series 2 (T1w): 1 NIfTI image made from 3 DICOM files" in verbose
    assert "Series 11 (FLAIR): 1 NIfTI image made from 4 DICOM files" in verbose
    assert f"DICOM archive {TARCHIVE}: study date 2024-01-05, 3 series, 9 DICOM files" in verbose
    assert "Series 2 (T1w): MR, 3 DICOM files" in verbose
    tarchive = {
        "tarchive": TARCHIVE, "study_date": "2024-01-05", "md5": hashlib.md5(archive.read_bytes()).hexdigest(),
        "files": 9,
        "series": [{"number": "2", "description": "T1w", "modality": "MR", "files": 3},
                   {"number": "5", "description": "T2w", "modality": "MR", "files": 2},
                   {"number": "11", "description": "FLAIR", "modality": "MR", "files": 4}],
    }
    assert run.report("tarchive") == tarchive
    assert run.report("counts") == {"minc_created": 3, "minc_inserted": 3}
    assert run.report("summary") == {"message": "3 series, 9 DICOM files: 3 NIfTI images created and kept."}
    assert tree(output) == {
        "tarchive_info.json", "nifti", f"nifti/{NAME}_series2_T1w.nii.gz", f"nifti/{NAME}_series5_T2w.nii.gz",
        f"nifti/{NAME}_series11_FLAIR.nii.gz"}
    assert json.loads((output / "tarchive_info.json").read_text()) == {
        "upload_id": 42, "archive": f"{NAME}.tgz", **tarchive}
    files = run.reports("file")
    assert [item["file"] for item in files] == sorted(item["file"] for item in files)
    assert {(item["file"], item["series"], item["outcome"], item["reason"]) for item in files} == {
        (f"study/series{series}/IM{number:04d}.dcm", str(series), "inserted", None)
        for series, count in ((2, 3), (5, 2), (11, 4)) for number in range(1, count + 1)}
    assert list(run.temp_dir.iterdir()) == []


def test_the_steps_come_in_order_with_a_percent_that_never_goes_down_and_ends_at_100(tmp_path):
    run = run_with_name(tmp_path, three_series(tmp_path))

    steps = run.reports("step")
    percents = [step["percent"] for step in steps]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    assert all(isinstance(percent, int) for percent in percents)
    names = [step["name"] for step in steps]
    assert [name for number, name in enumerate(names) if number == 0 or names[number - 1] != name] == STEP_NAMES
    extracting = [step["percent"] for step in steps if step["name"] == "Extracting"]
    assert extracting[0] == 5 and extracting[-1] == 30
    assert [step["percent"] for step in steps if step["name"] == "Converting to NIfTI"][-1] == 95


def test_a_series_dcm2niix_cannot_convert_is_reported_file_by_file_and_the_others_are_kept(tmp_path):
    archive = three_series(tmp_path, s5=BROKEN_PIXELS)
    output = tmp_path / "out"

    run = run_with_name(tmp_path, archive, "--output-dir", str(output))

    assert run.exit_code == 0, run.tagged("error")
    [not_converted] = [line for line in run.tagged("info") if "was not converted" in line]
    assert not_converted.startswith("Series 5 (T2w) was not converted: dcm2niix: ")
    assert "study/series5/IM0001.dcm" in not_converted or "study/series5/IM0002.dcm" in not_converted
    assert run.report("counts") == {"minc_created": 2, "minc_inserted": 2}
    assert run.report("summary") == {
        "message": "3 series, 9 DICOM files: 2 NIfTI images created and kept; 1 series not converted."}
    outcomes = run.outcomes()
    assert {outcomes[f"study/series5/IM000{number}.dcm"][0] for number in (1, 2)} == {"not converted"}
    assert outcomes["study/series5/IM0001.dcm"][1].startswith("dcm2niix: ")
    assert outcomes["study/series2/IM0001.dcm"] == ("inserted", None)
    assert len(list((output / "nifti").iterdir())) == 2


def test_when_no_series_gives_an_image_the_run_fails_as_no_valid_images_created(tmp_path):
    archive = write_archive(tmp_path / f"{NAME}.tgz", series_members(NAME, 1, 2, extra_tags=BROKEN_PIXELS))
    output = tmp_path / "out"

    run = run_with_name(tmp_path, archive, "--output-dir", str(output))

    assert run.exit_code == 190
    assert run.tagged("error")[0] == "dcm2niix made no NIfTI image from the 1 series."
    assert run.error_lines_naming("Series 1 (T1w): dcm2niix: ")
    assert run.report("counts") == {"minc_created": 0, "minc_inserted": 0}
    assert {outcome for outcome, _ in run.outcomes().values()} == {"not converted"}
    assert not output.exists() and list(tmp_path.glob(".out.*")) == []


def test_without_an_output_directory_the_images_are_made_but_nothing_is_kept(tmp_path):
    run = run_with_name(tmp_path, make_dicom_archive(tmp_path / f"{NAME}.zip", NAME, n_files=2))

    assert run.exit_code == 0
    assert run.report("counts") == {"minc_created": 1, "minc_inserted": 0}
    assert set(run.outcomes().values()) == {("not processed", NOT_KEPT)}
    assert run.report("summary") == {
        "message": "1 series, 2 DICOM files: 1 NIfTI image created, none kept (no output directory)."}


def test_running_again_replaces_the_output_directory_whole_and_leaves_no_partial_result(tmp_path):
    output = tmp_path / "out"
    first = run_with_name(tmp_path, three_series(tmp_path), "--output-dir", str(output))
    kept = tree(output)
    (output / "nifti" / "stale.nii.gz").write_bytes(b"from an older run")
    (tmp_path / ".out.partial-0badc0de").mkdir()  # what a killed run leaves beside it

    again = run_with_name(tmp_path, three_series(tmp_path), "--output-dir", str(output))

    assert (first.exit_code, again.exit_code) == (0, 0)
    assert tree(output) == kept
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".out")) == []


def test_a_failed_run_leaves_the_former_output_directory_as_it_was(tmp_path):
    output = tmp_path / "out"
    run_with_name(tmp_path, three_series(tmp_path), "--output-dir", str(output))
    before = {path: path.read_bytes() for path in output.rglob("*") if path.is_file()}
    broken = make_dicom_archive(tmp_path / "broken.tgz", NAME, n_files=2, patient_names=[NAME, "OTHER"])

    run = run_with_name(tmp_path, broken, "--output-dir", str(output))

    assert run.exit_code == 151
    assert {path: path.read_bytes() for path in output.rglob("*") if path.is_file()} == before
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".out")] == []


def test_without_dcm2niix_the_run_succeeds_saying_the_series_were_not_converted(tmp_path, monkeypatch, capsys):
    # In-process: no dcm2niix beside this "Python", none on PATH, none set.
    archive = three_series(tmp_path)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("UPLOADER_DCM2NIIX", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    output = tmp_path / "out"

    exit_code = pipeline_main.main(["--upload-id", "7", "--patient-name", NAME, "--output-dir", str(output),
                                    str(archive)])

    lines = capsys.readouterr().out.splitlines()
    assert exit_code == 0
    assert "[info] dcm2niix is not installed: the series are not converted to NIfTI" in lines
    reports = [json.loads(line.removeprefix("[report] ")) for line in lines if line.startswith("[report] ")]
    assert {"type": "summary", "message": "3 series, 9 DICOM files: not converted to NIfTI (dcm2niix is not installed)."} in reports
    assert {"type": "counts", "minc_created": 0, "minc_inserted": 0} in reports
    assert {(item["outcome"], item["reason"]) for item in reports if item["type"] == "file"} == {
        ("not converted", "dcm2niix is not installed")}
    assert tree(output) == {"tarchive_info.json", "nifti"}


def test_a_run_stopped_while_converting_leaves_neither_a_partial_result_nor_its_work_directory(tmp_path):
    slow_dcm2niix = tmp_path / "bin" / "slow-dcm2niix"
    slow_dcm2niix.parent.mkdir()
    started = tmp_path / "dcm2niix-started"
    slow_dcm2niix.write_text(f"#!/bin/sh\ntouch '{started}'\nexec sleep 30\n")
    slow_dcm2niix.chmod(0o755)
    output = tmp_path / "out"
    env, temp_dir = pipeline_environment(tmp_path, UPLOADER_DCM2NIIX=str(slow_dcm2niix))
    command = pipeline_command(three_series(tmp_path), "--patient-name", NAME, "--output-dir", str(output))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with process:
        for line in process.stdout:
            if line.startswith("[verbose] Converting with "):
                break
        deadline = time.monotonic() + 10
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        rest = process.stdout.read()
    assert started.exists(), "dcm2niix had not started when the run was stopped"
    assert process.returncode == -signal.SIGTERM, rest[-500:]
    assert "Removed work directory" in rest
    assert not output.exists() and [path.name for path in tmp_path.iterdir() if path.name.startswith(".out")] == []
    assert list(temp_dir.iterdir()) == []
