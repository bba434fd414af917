"""docker-compose.yml as Compose itself reads it: the secrets are required, the
services start in order of health, the launcher has time to stop, and the
workers scale with `--scale` and nothing else.

Compose's own `config` command parses the file (Compose v2's `docker compose`
when there is one, else Debian's docker-compose 1.29, which scripts/setup.sh
installs), as `make compose-config` does. Neither needs a Docker engine.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common.settings import LauncherSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = {
    "UPLOADER_DEMO_TOKEN": "compose-test-demo-token",
    "UPLOADER_DEMO_PASSWORD": "compose-test-demo-password",
    "UPLOADER_INTERNAL_SECRET": "compose-test-internal-secret-0123456789",
}
UPLOADER_SERVICES = ("gateway", "logstore", "validator", "launcher")
WORKERS = ("validator", "launcher", "logstore")
SCALE = {"validator": 2, "launcher": 4}
READY_CONDITIONS = {"service_healthy", "service_completed_successfully"}


def compose_command() -> list[str]:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor docker-compose is installed: run `bash scripts/setup.sh` (make test does)")


def run_compose(tmp_path: Path, secrets: dict[str, str], *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,)):
    """`config` with exactly these secrets: none from this process's environment nor from a .env file."""
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("UPLOADER_", "COMPOSE_"))}
    command = [*compose_command(), "--project-directory", str(ROOT), "--env-file", str(empty_env_file)]
    for path in files:
        command += ["-f", str(path)]
    return subprocess.run([*command, *args], env={**env, **secrets}, capture_output=True, text=True, timeout=60)


def parsed_config(tmp_path: Path, files: tuple[Path, ...] = (COMPOSE_FILE,)) -> dict:
    answer = run_compose(tmp_path, SECRETS, "config", files=files)
    assert answer.returncode == 0, answer.stderr
    return yaml.safe_load(answer.stdout)


@pytest.fixture
def config(tmp_path) -> dict:
    return parsed_config(tmp_path)


def seconds(duration: str | int | float) -> float:
    """A Compose duration ("1m30s", "60s", or a number of seconds) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(f"{n}{u}" for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def published_ports(service: dict) -> list:
    """The ports a service publishes on the host (short or long syntax); `expose` publishes none."""
    published = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            if port.get("published"):
                published.append(port)
        elif ":" in str(port):
            published.append(port)
    return published


def test_the_file_is_valid_with_the_three_secrets_set(tmp_path):
    answer = run_compose(tmp_path, SECRETS, "config", "-q")

    assert answer.returncode == 0, answer.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_compose_refuses_the_file_and_names_the_secret_that_is_missing(tmp_path, missing, how):
    secrets = {name: value for name, value in SECRETS.items() if name != missing}
    if how == "empty":
        secrets[missing] = ""

    answer = run_compose(tmp_path, secrets, "config", "-q")

    assert answer.returncode != 0
    # Compose v2: "required variable X is missing a value: set X to ..."; 1.29: "Missing mandatory value ...: set X to ..."
    # Both end with the file's own message, which names the variable.
    assert answer.stderr.strip().rsplit(": ", 1)[-1].startswith(f"set {missing} to "), answer.stderr


def test_no_service_falls_back_to_a_well_known_secret(config):
    for name, service in config["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if variable in SECRETS:
                assert value == SECRETS[variable], f"{name}'s {variable} is not the one given"


def test_each_secret_goes_to_the_services_that_use_it_and_no_other(config):
    holders = {variable: {name for name, service in config["services"].items()
                          if variable in (service.get("environment") or {})} for variable in SECRETS}

    assert holders == {
        "UPLOADER_INTERNAL_SECRET": {"gateway", "logstore"},
        "UPLOADER_DEMO_TOKEN": {"demo-data"},
        "UPLOADER_DEMO_PASSWORD": {"demo-data"},
    }


def test_every_uploader_service_waits_for_its_dependencies_to_be_healthy_or_done(config):
    services = config["services"]
    for name in (*UPLOADER_SERVICES, "demo-data"):
        depends_on = services[name]["depends_on"]
        assert isinstance(depends_on, dict), f"{name}: depends_on without conditions only orders the starts"
        assert {dependency["condition"] for dependency in depends_on.values()} <= READY_CONDITIONS, name
    for name in UPLOADER_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["rabbitmq"]["condition"] == "service_healthy", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["demo-data"]["condition"] == "service_completed_successfully", name
    assert services["gateway"]["depends_on"]["logstore"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["validator"]["condition"] == "service_healthy"
    assert services["demo-data"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_service_with_a_dependent_has_a_readiness_check(config):
    services = config["services"]
    for name in UPLOADER_SERVICES:
        test = services[name]["healthcheck"]["test"]
        assert "/readyz" in " ".join(test), f"{name}'s health check does not ask /readyz"


def test_docker_waits_longer_for_a_launcher_to_stop_than_the_launcher_lets_its_pipelines_run(config):
    launcher = config["services"]["launcher"]
    grace = float(launcher["environment"].get("UPLOADER_SHUTDOWN_GRACE_SECONDS",
                                              LauncherSettings.model_fields["shutdown_grace_seconds"].default))

    assert seconds(launcher["stop_grace_period"]) > grace


def test_the_launchers_keep_the_pipeline_output_on_a_volume_the_image_lets_them_write(config):
    launcher = config["services"]["launcher"]
    output = launcher["environment"]["UPLOADER_PIPELINE_OUTPUT_PATH"]
    [mount] = [volume for volume in launcher["volumes"] if _target(volume) == output]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()

    assert _source(mount) in config["volumes"], "a named volume: the output outlives the container"
    assert re.search(rf"chown uploader:uploader [^\n]*{re.escape(output)}", dockerfile), (
        "a new named volume takes the ownership of the image's folder: the launcher (uid 10001) must own it")


def _target(volume) -> str:
    return volume["target"] if isinstance(volume, dict) else volume.split(":")[1]


def _source(volume) -> str:
    return volume["source"] if isinstance(volume, dict) else volume.split(":")[0]


@pytest.mark.parametrize("worker", WORKERS)
def test_a_worker_has_no_container_name_and_publishes_no_host_port_so_it_scales(config, worker):
    service = config["services"][worker]

    assert "container_name" not in service
    assert published_ports(service) == []


def test_the_gateway_keeps_its_published_port(config):
    assert published_ports(config["services"]["gateway"]), "the gateway is no longer reachable from the host"


def test_no_service_sets_a_scale_that_the_command_line_would_fight(config):
    for name, service in config["services"].items():
        assert "scale" not in service, name
        assert "replicas" not in service.get("deploy", {}), name


def test_the_file_scaled_as_compose_up_scale_would_scale_it_stays_valid(tmp_path):
    """`config` has no --scale (in 1.29 nor in v2), so the same numbers go in an override file, which
    both honour; Compose v2 also checks there that no scaled service has a container_name."""
    override = tmp_path / "scale.yml"
    override.write_text(yaml.safe_dump({"services": {name: {"scale": n} for name, n in SCALE.items()}}))

    config = parsed_config(tmp_path, files=(COMPOSE_FILE, override))

    for name, replicas in SCALE.items():
        service = config["services"][name]
        assert service.get("scale", service.get("deploy", {}).get("replicas")) == replicas, name
        assert "container_name" not in service
        assert published_ports(service) == []


LORIS_COMPOSE_FILE = ROOT / "docker-compose.loris.yml"
LORIS_URL = {"UPLOADER_LORIS_DATABASE_URL": "mysql://uploader:compose-test@loris-db:3306/LORIS"}


def test_the_loris_override_needs_the_loris_database_url_and_names_it(tmp_path):
    answer = run_compose(tmp_path, SECRETS, "config", "-q", files=(COMPOSE_FILE, LORIS_COMPOSE_FILE))

    assert answer.returncode != 0
    assert answer.stderr.strip().rsplit(": ", 1)[-1].startswith("set UPLOADER_LORIS_DATABASE_URL to "), answer.stderr


def test_the_loris_override_gives_the_url_to_the_services_that_read_it_and_runs_loris_mri(tmp_path):
    answer = run_compose(tmp_path, {**SECRETS, **LORIS_URL}, "config", files=(COMPOSE_FILE, LORIS_COMPOSE_FILE))
    assert answer.returncode == 0, answer.stderr
    services = yaml.safe_load(answer.stdout)["services"]

    holders = {name for name, service in services.items()
               if (service.get("environment") or {}).get("UPLOADER_LORIS_DATABASE_URL") == LORIS_URL[
                   "UPLOADER_LORIS_DATABASE_URL"]}
    assert holders == {"gateway", "validator", "launcher", "demo-data"}
    launcher = services["launcher"]["environment"]
    # `config` writes a `$` escaped again ($$), as it read it.
    assert launcher["UPLOADER_PIPELINE_COMMAND"].replace("$$", "$").endswith(
        'exec imaging_upload_file.pl \\"$@\\"" imaging_upload_file.pl -profile {profile} '
        "-upload_id {loris_upload_id} {scan_path}")
    assert launcher["UPLOADER_DATABASE_URL"] == services["gateway"]["environment"]["UPLOADER_DATABASE_URL"]
    assert services["demo-data"]["command"] == ["python", "-m", "services.gateway.admin.demo_user"]
