"""No identifying value read from a file is printed or kept by the reference pipeline: its checks name the
files and the tags, never what they hold, and its DICOM archive summary and NIfTI images carry none.

Each archive's files hold a real-looking name, record number, birth date, address and image comment; every
line the pipeline prints (stdout and stderr) and every file it keeps (decompressed) is searched for them.
"""

import gzip
from pathlib import Path

from tests.support.dicom_archives import series_members, write_archive
from tests.unit.pipeline.pipeline_runs import NAME, pipeline_command, run_pipeline, run_with_name

PATIENT_NAME = "TREMBLAY^JOSEPHINE"
PATIENT_ID = "TREJ61042319"  # a health card number's shape
PERSONAL_TAGS = {"PatientBirthDate": "19610423", "PatientAddress": "4521 RUE SAINT-DENIS MONTREAL"}
IMAGE_COMMENTS = {"ImageComments": "Mme Tremblay, nee le 1961-04-23"}
# Each value in the forms it may take once printed: its parts, and a date as ISO.
VALUES = ("TREMBLAY", "JOSEPHINE", "TREJ61042319", "19610423", "1961-04-23", "SAINT-DENIS", "4521 RUE")


def identifying(text: str) -> list[str]:
    return [value for value in VALUES if value.lower() in text.lower()]


def kept_text(folder: Path) -> dict[str, str]:
    """Each file kept under `folder`, decompressed when it ends in .gz, as text."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            files[path.relative_to(folder).as_posix()] = (
                gzip.decompress(data) if path.name.endswith(".gz") else data).decode("latin-1")
    return files


def archive_of(tmp_path: Path, name: str, extra_tags: dict) -> Path:
    members = series_members(PATIENT_NAME, 3, 3, series_description="T1w", patient_id=PATIENT_ID,
                             extra_tags=extra_tags)
    return write_archive(tmp_path / name, members)


def test_a_phantom_whose_files_name_a_person_is_inserted_and_nothing_printed_or_kept_holds_their_values(tmp_path):
    archive = archive_of(tmp_path, "phantom_site1.tgz", IMAGE_COMMENTS)
    output = tmp_path / "out"

    run = run_pipeline(tmp_path, pipeline_command(archive, "--output-dir", str(output)))

    assert run.exit_code == 0, run.tagged("error")
    assert "study/series3/IM0001.dcm: series 3" in run.tagged("verbose")
    assert "patient_name" not in run.report("tarchive")
    assert [line for line in run.lines if identifying(line)] == []
    kept = kept_text(output)
    assert sorted(kept) == ["nifti/phantom_site1_series3_T1w.nii.gz", "tarchive_info.json"]
    assert {path: identifying(text) for path, text in kept.items()} == {path: [] for path in kept}


def test_a_name_that_is_not_the_label_fails_naming_the_files_the_tag_and_the_label_never_the_name(tmp_path):
    archive = archive_of(tmp_path, f"{NAME}.tgz", PERSONAL_TAGS)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 151
    assert run.tagged("error") == [
        f"The PatientName differs from '{NAME}' in 3 of 3 DICOM files.",
        f"study/series3/IM0001.dcm: the PatientName is not '{NAME}'",
        f"study/series3/IM0002.dcm: the PatientName is not '{NAME}'",
        f"study/series3/IM0003.dcm: the PatientName is not '{NAME}'",
        "Fix the PatientName in these files, or rename the archive, and upload it again.",
    ]
    assert run.outcomes()["study/series3/IM0002.dcm"] == ("rejected", f"its PatientName is not '{NAME}'")
    assert [line for line in run.lines if identifying(line)] == []


def test_a_phantom_with_a_birth_date_and_an_address_fails_naming_the_tags_never_their_values(tmp_path):
    archive = archive_of(tmp_path, "phantom_site1.zip", PERSONAL_TAGS)

    run = run_pipeline(tmp_path, pipeline_command(archive))

    assert run.exit_code == 62
    assert run.error_lines_naming("study/series3/IM0001.dcm: PatientBirthDate is filled in")
    assert run.error_lines_naming("study/series3/IM0001.dcm: PatientAddress is filled in")
    assert [line for line in run.lines if identifying(line)] == []


def test_a_value_pydicom_finds_malformed_is_not_quoted_on_stderr(tmp_path):
    # A SeriesNumber must be a number: pydicom warns, quoting the value, as it reads one that is not.
    members = {path: data.replace(b"77777777", b"TREMBLAY")
               for path, data in series_members(NAME, 77777777, 2).items()}
    archive = write_archive(tmp_path / f"{NAME}.tgz", members)

    run = run_with_name(tmp_path, archive)  # fails the test when anything was printed on stderr

    assert run.exit_code == 0, run.tagged("error")
