"""Settings from UPLOADER_ environment variables (services.common.settings)."""

import os
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import ValidationError

from services.common.app_keys import SETTINGS

from services.common.settings import (
    ENV_PREFIX,
    GatewaySettings,
    LauncherSettings,
    LogstoreSettings,
    ServiceSettings,
    ValidatorSettings,
)
from services.gateway.loris_record import auto_launch_wanted


@pytest.fixture(autouse=True)
def no_uploader_environment(monkeypatch):
    """Start every test from the defaults, whatever the shell that runs the tests has set."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def test_the_environment_prefix_is_uploader():
    assert ENV_PREFIX == "UPLOADER_"


def test_the_gateway_listens_on_127_0_0_1_port_8080_by_default():
    settings = GatewaySettings()

    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.logstore_url == "http://127.0.0.1:8081"
    assert settings.max_upload_bytes == 50 * 1024**3


def test_each_service_has_its_own_default_port():
    assert LogstoreSettings().port == 8081
    assert ValidatorSettings().port == 8082
    assert LauncherSettings().port == 8083


def test_the_shared_settings_have_local_defaults():
    settings = ServiceSettings()

    assert settings.database_url == "postgresql://postgres@127.0.0.1:5432/uploader"
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert settings.incoming_path == Path("var/incoming")
    assert settings.log_level == "INFO"
    assert settings.prefetch == 16
    assert settings.outbox_poll_seconds == 1.0


async def test_the_gateway_launches_automatically_and_waits_two_seconds_for_a_rule_check_by_default():
    settings = GatewaySettings()
    app = web.Application()
    app[SETTINGS] = settings

    assert settings.auto_launch is None  # not given: standalone, true; in LORIS site mode, LORIS's setting
    assert await auto_launch_wanted(app) is True
    assert settings.rule_check_timeout_seconds == 2.0
    assert settings.internal_secret is None


def test_the_launcher_runs_two_pipelines_at_once_by_default():
    settings = LauncherSettings()

    assert settings.max_concurrent_runs == 2
    assert settings.heartbeat_seconds == 10.0
    assert settings.shutdown_grace_seconds == 30.0


def test_the_gateway_port_is_read_from_uploader_gateway_port(monkeypatch):
    monkeypatch.setenv("UPLOADER_GATEWAY_PORT", "9090")

    assert GatewaySettings().port == 9090


def test_each_service_port_is_read_from_its_own_variable(monkeypatch):
    monkeypatch.setenv("UPLOADER_GATEWAY_PORT", "9090")
    monkeypatch.setenv("UPLOADER_LOGSTORE_PORT", "9091")
    monkeypatch.setenv("UPLOADER_VALIDATOR_PORT", "9092")
    monkeypatch.setenv("UPLOADER_LAUNCHER_PORT", "9093")

    assert [GatewaySettings().port, LogstoreSettings().port, ValidatorSettings().port, LauncherSettings().port] == [
        9090, 9091, 9092, 9093,
    ]


def test_auto_launch_is_turned_off_by_uploader_auto_launch_false(monkeypatch):
    monkeypatch.setenv("UPLOADER_AUTO_LAUNCH", "false")

    assert GatewaySettings().auto_launch is False


def test_shared_settings_are_read_from_uploader_variables_by_every_service(monkeypatch):
    monkeypatch.setenv("UPLOADER_DATABASE_URL", "postgresql://db.example/uploader")
    monkeypatch.setenv("UPLOADER_INCOMING_PATH", "/data/incoming")
    monkeypatch.setenv("UPLOADER_HOST", "0.0.0.0")

    for settings in (GatewaySettings(), ValidatorSettings(), LauncherSettings(), LogstoreSettings()):
        assert settings.database_url == "postgresql://db.example/uploader"
        assert settings.incoming_path == Path("/data/incoming")
        assert settings.host == "0.0.0.0"


def test_launcher_settings_are_read_from_uploader_variables(monkeypatch):
    monkeypatch.setenv("UPLOADER_MAX_CONCURRENT_RUNS", "5")
    monkeypatch.setenv("UPLOADER_PIPELINE_COMMAND", "imaging_upload_file.pl -upload_id {upload_id} {scan_path}")

    settings = LauncherSettings()

    assert settings.max_concurrent_runs == 5
    assert settings.pipeline_command == "imaging_upload_file.pl -upload_id {upload_id} {scan_path}"


def test_a_variable_without_the_prefix_is_ignored(monkeypatch):
    monkeypatch.setenv("GATEWAY_PORT", "9999")
    monkeypatch.setenv("AUTO_LAUNCH", "false")

    assert GatewaySettings().port == 8080
    assert GatewaySettings().auto_launch is None  # not given


def test_an_internal_secret_shorter_than_16_characters_is_refused(monkeypatch):
    monkeypatch.setenv("UPLOADER_INTERNAL_SECRET", "short")

    with pytest.raises(ValidationError) as caught:
        GatewaySettings()

    assert caught.value.errors()[0]["loc"] == ("internal_secret",)


def test_zero_concurrent_runs_is_refused(monkeypatch):
    monkeypatch.setenv("UPLOADER_MAX_CONCURRENT_RUNS", "0")

    with pytest.raises(ValidationError) as caught:
        LauncherSettings()

    assert caught.value.errors()[0]["loc"] == ("max_concurrent_runs",)


def test_only_the_reference_pipeline_is_safe_to_rerun_unless_the_setting_says_otherwise(monkeypatch):
    assert LauncherSettings().rerun_safe is True
    monkeypatch.setenv("UPLOADER_PIPELINE_COMMAND", "imaging_upload_file.pl -upload_id {upload_id} {scan_path}")
    assert LauncherSettings().rerun_safe is False
    monkeypatch.setenv("UPLOADER_PIPELINE_RERUN_SAFE", "true")
    assert LauncherSettings().rerun_safe is True


def test_the_pipeline_time_limit_is_12_hours_by_default_and_0_means_none(monkeypatch):
    assert LauncherSettings().pipeline_timeout_seconds == 12 * 3600
    monkeypatch.setenv("UPLOADER_PIPELINE_TIMEOUT_MINUTES", "0")
    assert LauncherSettings().pipeline_timeout_seconds is None
