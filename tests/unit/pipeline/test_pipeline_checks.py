"""The reference pipeline's checks on the DICOM files: de-identified, one study, DICOM only, its settings.

Each test runs `python -m pipeline` and checks what a user would see: the exit
code, the log's sentences and the outcome reported for each file.
"""

import io
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.support.dicom_archives import make_dicom_archive, series_members, write_archive
from tests.unit.pipeline.pipeline_runs import NAME, pipeline_command, run_pipeline, run_with_name

STUDY_A = "1.2.826.0.1.3680043.8.498.1001"
STUDY_B = "1.2.826.0.1.3680043.8.498.1002"
STOPPED_AT_DEIDENTIFICATION = "the run stopped at the step 'Checking de-identification': "


def test_a_birth_date_left_in_fails_the_run_naming_each_file_and_the_tag_but_never_the_value(tmp_path):
    members = series_members(NAME, 1, 2) | series_members(NAME, 2, 2, extra_tags={"PatientBirthDate": "19800321"})
    archive = write_archive(tmp_path / f"{NAME}.tgz", members)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 62
    assert run.tagged("error") == [
        "2 of 4 DICOM files are not de-identified: PatientBirthDate must be empty or removed.",
        "study/series2/IM0001.dcm: PatientBirthDate is filled in (it must be empty or removed)",
        "study/series2/IM0002.dcm: PatientBirthDate is filled in (it must be empty or removed)",
        "De-identify these files (empty or remove the tags named), then upload the archive again.",
    ]
    assert not any("19800321" in line or "1980-03-21" in line for line in run.lines)
    outcomes = run.outcomes()
    assert outcomes["study/series2/IM0001.dcm"] == (
        "rejected", "PatientBirthDate is filled in (it must be empty or removed)")
    outcome, reason = outcomes["study/series1/IM0001.dcm"]
    assert outcome == "not processed" and reason.startswith(STOPPED_AT_DEIDENTIFICATION)
    assert run.report("summary") == {"message": "Failed with exit code 62: 2 of 4 DICOM files are not "
                                                "de-identified: PatientBirthDate must be empty or removed."}
    assert run.reports("tarchive") == [] and run.reports("counts") == []


def test_each_identifying_tag_filled_in_is_named_and_a_file_is_rejected_once_for_all_of_them(tmp_path):
    tags = {"OtherPatientNames": "Doe^Jane", "ReferringPhysicianName": "House^Gregory", "PatientAddress": "1 Main St"}
    archive = write_archive(tmp_path / f"{NAME}.zip", series_members(NAME, 1, 1, extra_tags=tags))

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 62
    assert run.error_lines_naming(
        "1 of 1 DICOM files", "OtherPatientNames, PatientAddress and ReferringPhysicianName must be empty")
    for tag in tags:
        assert run.error_lines_naming(f"study/series1/IM0001.dcm: {tag} is filled in")
    assert run.outcomes() == {"study/series1/IM0001.dcm": (
        "rejected", "PatientAddress, OtherPatientNames and ReferringPhysicianName are filled in "
                    "(they must be empty or removed)")}
    assert not any(value in line for value in ("Doe", "House", "Main St") for line in run.lines)


def test_identifying_tags_that_are_present_but_empty_pass(tmp_path):
    empty = {"PatientBirthDate": "", "OtherPatientIDsSequence": [], "ReferringPhysicianName": ""}
    archive = write_archive(tmp_path / f"{NAME}.tgz", series_members(NAME, 1, 2, extra_tags=empty))

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 0, run.tagged("error")
    assert "No identifying tag is filled in (24 tags checked in 2 DICOM files)" in run.tagged("verbose")


def test_the_institution_name_passes_by_default_and_the_identifying_tags_can_be_set(tmp_path):
    archive = write_archive(tmp_path / f"{NAME}.tgz",
                            series_members(NAME, 1, 1, extra_tags={"InstitutionName": "Montreal Neuro"}))

    default = run_with_name(tmp_path, archive)
    stricter = run_with_name(tmp_path, archive, UPLOADER_IDENTIFYING_TAGS=" InstitutionName , PatientBirthDate ")
    none = run_with_name(tmp_path, archive, UPLOADER_IDENTIFYING_TAGS="")

    assert default.exit_code == 0
    assert stricter.exit_code == 62
    assert stricter.error_lines_naming("study/series1/IM0001.dcm: InstitutionName is filled in")
    assert "Identifying tags checked: InstitutionName, PatientBirthDate" in stricter.tagged("verbose")
    assert none.exit_code == 0
    assert "No identifying tags are checked: UPLOADER_IDENTIFYING_TAGS is empty" in none.tagged("info")


def test_an_unknown_keyword_in_the_identifying_tags_setting_fails_the_run_as_a_bad_setting_naming_it(tmp_path):
    archive = make_dicom_archive(tmp_path / f"{NAME}.tgz", NAME, n_files=1)

    run = run_with_name(tmp_path, archive, UPLOADER_IDENTIFYING_TAGS="PatientAddress,PatientBirthdate")

    assert run.exit_code == 25
    assert run.tagged("error") == [
        "The pipeline setting UPLOADER_IDENTIFYING_TAGS is wrong: "
        "PatientBirthdate is not a DICOM keyword (did you mean PatientBirthDate?).",
        "Ask your LORIS administrator to correct UPLOADER_IDENTIFYING_TAGS.",
    ]
    assert not any(line.startswith("Extracted") for line in run.tagged("info"))
    assert list(run.temp_dir.iterdir()) == []


def test_a_dcm2niix_setting_that_names_no_program_fails_the_run_as_a_bad_setting(tmp_path):
    archive = make_dicom_archive(tmp_path / f"{NAME}.tgz", NAME, n_files=1)

    run = run_with_name(tmp_path, archive, UPLOADER_DCM2NIIX=str(tmp_path / "no-such-dcm2niix"))

    assert run.exit_code == 25
    assert run.error_lines_naming("UPLOADER_DCM2NIIX", "no-such-dcm2niix", "is not a program that can be run")


def test_a_wrong_patient_id_fails_the_run_as_a_patient_name_mismatch_without_printing_it(tmp_path):
    archive = write_archive(tmp_path / f"{NAME}.tgz", series_members(NAME, 1, 2, patient_id="MRN-998877"))

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 151
    assert run.tagged("error") == [
        f"The PatientID differs from '{NAME}' in 2 of 2 DICOM files.",
        f"study/series1/IM0001.dcm: the PatientID is not '{NAME}'",
        f"study/series1/IM0002.dcm: the PatientID is not '{NAME}'",
        f"Set the PatientID of these files to '{NAME}', as their PatientName, and upload the archive again.",
    ]
    assert f"PatientName {NAME} matches in all 2 DICOM files" in run.tagged("verbose")
    assert not any("998877" in line for line in run.lines)
    assert run.outcomes()["study/series1/IM0002.dcm"] == ("rejected", f"its PatientID is not '{NAME}'")


def test_a_missing_patient_id_differs_too(tmp_path):
    archive = write_archive(tmp_path / f"{NAME}.tgz",
                            series_members(NAME, 1, 1) | series_members(NAME, 2, 1, patient_id=""))

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 151
    assert run.error_lines_naming("The PatientID differs", "in 1 of 2 DICOM files")
    assert run.error_lines_naming("study/series2/IM0001.dcm: the PatientID is not")


def test_two_studies_in_one_archive_fail_the_run_naming_each_study_and_its_file_count(tmp_path):
    members = series_members(NAME, 1, 2, study_uid=STUDY_A) | series_members(NAME, 2, 3, study_uid=STUDY_B)
    archive = write_archive(tmp_path / f"{NAME}.tgz", members)

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 85
    assert run.tagged("error") == [
        "The archive holds 2 studies (StudyInstanceUID); it must hold one.",
        f"StudyInstanceUID {STUDY_B}: 3 DICOM files",
        f"StudyInstanceUID {STUDY_A}: 2 DICOM files",
        "Put each study in an archive of its own and upload them one at a time.",
    ]
    assert run.outcomes()["study/series1/IM0001.dcm"] == (
        "rejected", f"its study {STUDY_A} is one of 2 in the archive")
    assert len(run.outcomes()) == 5
    assert run.reports("step")[-1] == {"name": "Checking the study", "percent": 52}


def test_a_file_that_is_not_dicom_fails_the_run_and_each_file_gets_its_outcome(tmp_path):
    archive = make_dicom_archive(tmp_path / f"{NAME}.zip", NAME, n_files=2, extra_files={"notes.txt": b"hello\n"})

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 62
    assert run.error_lines_naming("notes.txt: not a DICOM file")
    outcomes = run.outcomes()
    assert outcomes["notes.txt"] == ("not DICOM", "not a DICOM file")
    assert outcomes["study/series1/IM0001.dcm"][0] == "not processed"
    assert outcomes["study/series1/IM0001.dcm"][1].startswith("the run stopped at the step 'Reading DICOM headers'")


def test_a_phantom_scan_skips_the_name_checks_and_is_named_after_its_archive(tmp_path):
    members = series_members("PHANTOM_SITE1", 1, 2, extra_tags={"StudyDate": ""})
    archive = write_archive(tmp_path / "phantom scan (site 1).zip", members)

    run = run_pipeline(tmp_path, pipeline_command(archive))

    assert run.exit_code == 0, run.tagged("error")
    assert "No PatientName given (phantom scan): PatientName and PatientID checks skipped" in run.tagged("info")
    tarchive = run.report("tarchive")
    assert (tarchive["tarchive"], tarchive["study_date"]) == ("DCM_undated_phantom_scan_site_1", None)
    assert "patient_name" not in tarchive


def test_a_truncated_archive_fails_the_run_as_an_extraction_failure_and_leaves_no_output(tmp_path):
    whole = make_dicom_archive(tmp_path / "whole.tgz", NAME, n_files=20).read_bytes()
    archive = tmp_path / f"{NAME}.tgz"
    archive.write_bytes(whole[: len(whole) // 2])
    output = tmp_path / "out" / "42"

    run = run_with_name(tmp_path, archive, "--output-dir", str(output))

    assert run.exit_code == 60
    assert run.error_lines_naming(f"Could not extract {NAME}.tgz")
    assert run.reports("file") == []
    assert not output.exists() and not any(Path(tmp_path / "out").glob(".42.*"))
    assert list(run.temp_dir.iterdir()) == []


def test_an_unsafe_entry_is_reported_as_rejected(tmp_path):
    archive = write_archive(tmp_path / f"{NAME}.tgz", {"../evil.dcm": b"x"})

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 60
    assert run.outcomes() == {"../evil.dcm": ("rejected", "unsafe to extract: it would be written outside the "
                                                          "work directory")}


def dicomdir_bytes() -> bytes:
    """A DICOMDIR as a CD or DVD export writes one beside its images (its records left empty)."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.FileSetID = "EXPORT"
    dataset.DirectoryRecordSequence = []
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_a_dicomdir_beside_the_images_is_left_unchecked_and_said_so(tmp_path):
    archive = write_archive(tmp_path / f"{NAME}.tgz", series_members(NAME, 1, 2) | {"DICOMDIR": dicomdir_bytes()})

    run = run_with_name(tmp_path, archive)

    assert run.exit_code == 0, run.tagged("error")
    assert "Found 2 DICOM files" in run.tagged("info")
    assert run.outcomes()["DICOMDIR"] == (
        "not processed", "a DICOMDIR, the index of a CD or DVD export: not an image, so not checked")
