"""The command the launcher runs for a scan (services.launcher.pipeline_command)."""

import sys
from pathlib import Path

import pytest

from services.common.messages import ScanFacts
from services.common.settings import LauncherSettings
from services.launcher.pipeline_command import PLACEHOLDERS, TemplateCommand

SCAN = ScanFacts(
    file_name="MTL0001_300001_V1.tgz", scan_key="demo/7/attempt-2/MTL0001_300001_V1.tgz",
    candid="300001", pscid="MTL0001", visit_label="V1",
)
PHANTOM = ScanFacts(file_name="phantom.tgz", scan_key="demo/8/attempt-1/phantom.tgz", is_phantom=True)
SCAN_PATH = Path("/var/incoming/demo/7/attempt-2/MTL0001_300001_V1.tgz")


def test_every_placeholder_is_filled_from_the_upload():
    command = TemplateCommand(
        "{python} run {upload_id} {attempt} {scan_path} {file_name} {patient_name} {candid} {pscid} {visit_label}"
    )

    assert command.argv(7, 2, SCAN, SCAN_PATH) == [
        sys.executable, "run", "7", "2", str(SCAN_PATH), "MTL0001_300001_V1.tgz",
        "MTL0001_300001_V1", "300001", "MTL0001", "V1",
    ]


def test_the_placeholders_are_the_documented_ones():
    assert PLACEHOLDERS == (
        "python", "upload_id", "attempt", "scan_path", "file_name", "patient_name", "candid", "pscid", "visit_label",
        "profile", "phantom", "output_dir", "loris_upload_id",
    )


def test_the_loris_mri_form_takes_the_profile_setting_and_a_phantom_flag_as_loris_writes_it():
    command = TemplateCommand("imaging_upload_file.pl -profile {profile} -upload_id {upload_id} {scan_path} {phantom}",
                              profile="study_a")

    assert command.argv(7, 1, SCAN, SCAN_PATH) == [
        "imaging_upload_file.pl", "-profile", "study_a", "-upload_id", "7", str(SCAN_PATH), "N"]
    assert command.argv(8, 1, PHANTOM, SCAN_PATH)[-1] == "Y"


def test_a_loris_mri_template_renders_to_its_arguments():
    command = TemplateCommand("imaging_upload_file.pl -upload_id {upload_id} -profile prod {scan_path}")

    assert command.argv(7, 1, SCAN, SCAN_PATH) == [
        "imaging_upload_file.pl", "-upload_id", "7", "-profile", "prod", str(SCAN_PATH),
    ]


def test_a_value_with_spaces_or_a_semicolon_stays_one_argument_and_is_never_run_by_a_shell():
    command = TemplateCommand("echo {scan_path}")
    scan_path = Path("/tmp/my scans/x; rm -rf ~.tgz")

    assert command.argv(7, 1, SCAN, scan_path) == ["echo", "/tmp/my scans/x; rm -rf ~.tgz"]


def test_a_quoted_template_argument_with_spaces_stays_one_argument():
    command = TemplateCommand("run --note 'two words; not a command' {upload_id}")

    assert command.argv(7, 1, SCAN, SCAN_PATH) == ["run", "--note", "two words; not a command", "7"]


def test_a_phantom_gives_an_empty_patient_name_inside_its_argument():
    command = TemplateCommand("run --patient-name={patient_name} {scan_path}")

    assert command.argv(8, 1, PHANTOM, SCAN_PATH) == ["run", "--patient-name=", str(SCAN_PATH)]


def test_a_phantom_patient_name_alone_stays_one_empty_argument():
    command = TemplateCommand("run {patient_name} {scan_path}")

    assert command.argv(8, 1, PHANTOM, SCAN_PATH) == ["run", "", str(SCAN_PATH)]


def test_a_phantom_fills_candid_pscid_and_visit_with_empty_strings():
    command = TemplateCommand("run {candid} {pscid} {visit_label}")

    assert command.argv(8, 1, PHANTOM, SCAN_PATH) == ["run", "", "", ""]


def test_an_unknown_placeholder_is_refused_naming_it_and_listing_the_known_ones():
    with pytest.raises(ValueError) as caught:
        TemplateCommand("run --id {uploadid} {scan_path}")

    assert str(caught.value) == (
        "pipeline command argument '{uploadid}' has an unknown placeholder 'uploadid'; known: "
        "{python}, {upload_id}, {attempt}, {scan_path}, {file_name}, {patient_name}, {candid}, {pscid}, {visit_label}, "
        "{profile}, {phantom}, {output_dir}, {loris_upload_id}"
    )


def test_a_positional_placeholder_is_refused():
    with pytest.raises(ValueError) as caught:
        TemplateCommand("run {0}")

    assert str(caught.value).startswith("pipeline command argument '{0}' has an unknown placeholder")


@pytest.mark.parametrize("template", ["", "   ", "\t\n"])
def test_an_empty_template_is_refused(template):
    with pytest.raises(ValueError) as caught:
        TemplateCommand(template)

    assert str(caught.value) == "the pipeline command is empty"


def test_the_default_template_runs_the_reference_pipeline_with_this_python(monkeypatch):
    monkeypatch.delenv("UPLOADER_PIPELINE_COMMAND", raising=False)
    command = TemplateCommand(LauncherSettings().pipeline_command, output_path=Path("/data/output"))

    assert command.argv(7, 2, SCAN, SCAN_PATH) == [
        sys.executable, "-m", "pipeline", "--upload-id", "7", "--patient-name=MTL0001_300001_V1",
        "--output-dir", "/data/output/7", str(SCAN_PATH),
    ]


def test_the_default_template_gives_a_phantom_an_empty_patient_name_argument(monkeypatch):
    monkeypatch.delenv("UPLOADER_PIPELINE_COMMAND", raising=False)
    command = TemplateCommand(LauncherSettings().pipeline_command, output_path=Path("/data/output"))

    assert command.argv(8, 1, PHANTOM, SCAN_PATH) == [
        sys.executable, "-m", "pipeline", "--upload-id", "8", "--patient-name=", "--output-dir", "/data/output/8",
        str(SCAN_PATH),
    ]


def test_the_output_dir_is_the_uploads_own_folder_under_the_output_path():
    command = TemplateCommand("run --output-dir {output_dir} {scan_path}", output_path=Path("/data/output"))

    assert command.argv(7, 2, SCAN, SCAN_PATH) == ["run", "--output-dir", "/data/output/7", str(SCAN_PATH)]
