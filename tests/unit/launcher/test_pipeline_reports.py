"""The `[report] ` lines of the output protocol: what each becomes, in the log and in the upload's record."""

import json

import pytest

from services.common.messages import FileOutcome, TarchiveInfo, TarchiveSeries
from services.launcher.output_lines import OutputLine
from services.launcher.pipeline_reports import read_report


def read(*reports: dict | str):
    return [read_report(report if isinstance(report, str) else json.dumps(report)) for report in reports]


def test_a_step_is_a_detailed_line_and_the_runs_step_and_percentage():
    [step] = read({"type": "step", "name": "Extracting", "percent": 25})

    assert step.line == OutputLine("Extracting (25%)", is_error=False, is_verbose=True)
    assert step.fields == {"step": "Extracting", "percent": 25}


def test_the_tarchive_report_is_one_summary_line_and_the_archive_summary_without_the_patient_name_reported():
    [report] = read({"type": "tarchive", "tarchive": "DCM_2024-01-05_MTL0001_300001_V1", "study_date": "2024-01-05",
                     "patient_name": "TREMBLAY^JOSEPHINE", "md5": "0f" * 16, "files": 7,
                     "series": [{"number": "1", "description": "T1w", "modality": "MR", "files": 4},
                                {"number": "2", "description": None, "modality": "MR", "files": 3}]})

    assert report.line.message == ("DICOM archive DCM_2024-01-05_MTL0001_300001_V1: study of 2024-01-05, 2 series "
                                   f"(7 files), md5 {'0f' * 16}.")
    assert not report.line.is_verbose
    assert report.fields == {
        "tarchive": "DCM_2024-01-05_MTL0001_300001_V1",
        "tarchive_info": TarchiveInfo(study_date="2024-01-05", md5="0f" * 16, files=7,
                                      series=[TarchiveSeries(number="1", description="T1w", modality="MR", files=4),
                                              TarchiveSeries(number="2", modality="MR", files=3)]),
    }
    assert "TREMBLAY" not in report.fields["tarchive_info"].model_dump_json()


def test_counts_and_a_summary_are_summary_lines():
    counts, summary = read({"type": "counts", "minc_created": 3, "minc_inserted": 2},
                           {"type": "summary", "message": "3 series: 2 images kept."})

    assert (counts.line.message, counts.fields) == ("Image files: 3 created, 2 inserted.",
                                                    {"minc_created": 3, "minc_inserted": 2})
    assert (summary.line.message, summary.fields) == ("Summary: 3 series: 2 images kept.",
                                                      {"summary": "3 series: 2 images kept."})


def test_a_file_outcome_is_a_detailed_line_and_an_error_when_the_file_is_refused():
    inserted, rejected = read(
        {"type": "file", "file": "s1/IM1.dcm", "series": "1", "outcome": "inserted", "reason": None},
        {"type": "file", "file": "s1/IM2.dcm", "series": "1", "outcome": "rejected",
         "reason": "PatientBirthDate is filled in (it must be empty or removed)"})

    assert inserted.file == FileOutcome(file="s1/IM1.dcm", series="1", outcome="inserted")
    assert inserted.line == OutputLine("s1/IM1.dcm (series 1): inserted", is_error=False, is_verbose=True)
    assert rejected.line == OutputLine(
        "s1/IM2.dcm (series 1): rejected: PatientBirthDate is filled in (it must be empty or removed)",
        is_error=True, is_verbose=True)
    assert rejected.fields is None


def test_the_first_form_without_a_type_still_reports_the_archive_and_the_counts():
    [report] = read({"tarchive": "DCM_x.tar", "minc_created": 4, "minc_inserted": 3})

    assert report.line.message == "Pipeline report: DICOM archive DCM_x.tar, 4 image file(s) created, 3 inserted."
    assert report.fields == {"tarchive": "DCM_x.tar", "minc_created": 4, "minc_inserted": 3}


@pytest.mark.parametrize("text", [
    "not json",
    "[1, 2]",
    json.dumps({"type": "step", "name": "x", "percent": 101}),
    json.dumps({"type": "step", "name": "x"}),
    json.dumps({"type": "counts", "minc_created": -1}),
    json.dumps({"type": "file", "file": "a.dcm"}),
    json.dumps({"type": "weather", "sky": "blue"}),
    json.dumps({"tarchive": 7}),
    json.dumps({"type": "summary", "message": "a NUL \x00 inside"}),
])
def test_a_report_the_launcher_does_not_understand_is_none_so_it_is_logged_as_it_is(text):
    assert read(text) == [None]


def test_fields_a_newer_pipeline_adds_are_ignored():
    [report] = read({"type": "counts", "minc_created": 1, "nifti_sidecars": 1})

    assert report.fields == {"minc_created": 1}
