"""The environment a pipeline runs in (services.launcher.pipeline_environment): an allow-list, so
that the launcher's passwords never reach a program that parses untrusted archives."""

import pytest

from pipeline.archive import ArchiveLimits
from pipeline.settings import PipelineSettings
from services.common.settings import LauncherSettings
from services.launcher.pipeline_command import TemplateCommand
from services.launcher.pipeline_environment import PIPELINE_SETTINGS, pipeline_environment

LAUNCHER_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/home/uploader",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    "HOSTNAME": "launcher-7d9f",
    "UPLOADER_DATABASE_URL": "postgresql://uploader:database-password@postgres:5432/uploader",
    "UPLOADER_AMQP_URL": "amqp://uploader:broker-password@rabbitmq:5672/%2F",
    "UPLOADER_INTERNAL_SECRET": "the-internal-secret-of-make-run",
    "UPLOADER_MAX_CONCURRENT_RUNS": "2",
    "UPLOADER_IDENTIFYING_TAGS": "PatientBirthDate",
    "UPLOADER_ARCHIVE_MAX_RATIO": "50",
    "LORIS_CONFIG": "/data/loris-mri/bin/mri/dicom-archive",
    "PERL5LIB": "/data/loris-mri/bin/mri/uploadNeuroDB",
}


def test_a_pipeline_gets_the_basics_and_its_own_settings_and_none_of_the_launchers():
    assert pipeline_environment((), LAUNCHER_ENVIRONMENT) == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/home/uploader",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "UPLOADER_IDENTIFYING_TAGS": "PatientBirthDate",
        "UPLOADER_ARCHIVE_MAX_RATIO": "50",
    }


def test_the_names_a_site_lists_are_added_and_a_listed_name_that_is_not_set_is_absent():
    environment = pipeline_environment(("LORIS_CONFIG", "PERL5LIB", "MINC_TOOLKIT_DIR"), LAUNCHER_ENVIRONMENT)

    assert environment["LORIS_CONFIG"] == "/data/loris-mri/bin/mri/dicom-archive"
    assert environment["PERL5LIB"] == "/data/loris-mri/bin/mri/uploadNeuroDB"
    assert "MINC_TOOLKIT_DIR" not in environment
    assert not {name for name in environment if name.startswith("UPLOADER_")} - set(PIPELINE_SETTINGS)


@pytest.mark.parametrize("name", ["UPLOADER_DATABASE_URL", "UPLOADER_AMQP_URL", "UPLOADER_INTERNAL_SECRET",
                                  "uploader_database_url", "UPLOADER_MAX_CONCURRENT_RUNS"])
def test_a_site_cannot_list_a_setting_of_the_uploader_itself(name):
    with pytest.raises(ValueError, match=f"UPLOADER_PIPELINE_ENVIRONMENT lists {name}, a setting of the uploader"):
        pipeline_environment(("LORIS_CONFIG", name), LAUNCHER_ENVIRONMENT)


def test_a_site_may_list_a_setting_of_the_pipeline_and_nothing_changes():
    assert pipeline_environment(("UPLOADER_DCM2NIIX",), LAUNCHER_ENVIRONMENT) == pipeline_environment(
        (), LAUNCHER_ENVIRONMENT)


@pytest.mark.parametrize("name", ["LORIS CONFIG", "PERL5LIB=/x", "5LIB", ""])
def test_a_listed_name_that_is_not_a_variable_name_is_refused(name):
    with pytest.raises(ValueError, match="is not an environment variable name"):
        pipeline_environment((name,), LAUNCHER_ENVIRONMENT)


def test_the_pipeline_settings_passed_on_are_exactly_the_variables_the_reference_pipeline_reads():
    read = {f"{settings.model_config['env_prefix']}{name}".upper()
            for settings in (PipelineSettings, ArchiveLimits) for name in settings.model_fields}
    assert set(PIPELINE_SETTINGS) == read


def test_the_setting_is_a_comma_separated_list_of_names(monkeypatch):
    monkeypatch.setenv("UPLOADER_PIPELINE_ENVIRONMENT", " LORIS_CONFIG, PERL5LIB,,MINC_TOOLKIT_DIR ")

    assert LauncherSettings().pipeline_environment == ("LORIS_CONFIG", "PERL5LIB", "MINC_TOOLKIT_DIR")


def test_the_launchers_command_runs_in_the_environment_its_settings_allow(monkeypatch):
    for name, value in LAUNCHER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UPLOADER_PIPELINE_ENVIRONMENT", "LORIS_CONFIG")

    environment = TemplateCommand.from_settings(LauncherSettings()).environment

    assert environment["LORIS_CONFIG"] == "/data/loris-mri/bin/mri/dicom-archive"
    assert not {"UPLOADER_DATABASE_URL", "UPLOADER_AMQP_URL", "UPLOADER_INTERNAL_SECRET", "PERL5LIB"} & set(environment)


def test_a_launcher_whose_setting_lists_a_secret_refuses_to_start(monkeypatch):
    monkeypatch.setenv("UPLOADER_PIPELINE_ENVIRONMENT", "LORIS_CONFIG,UPLOADER_DATABASE_URL")

    with pytest.raises(ValueError, match="lists UPLOADER_DATABASE_URL"):
        TemplateCommand.from_settings(LauncherSettings())
