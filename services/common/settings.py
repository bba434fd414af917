"""Settings read from environment variables, all under one prefix: UPLOADER_.

Each service has one settings class; the fields every service needs live in
the base class. Every field says what it means in its description:
docs/configuration.md's table is generated from them
(`python -m services.common.settings_table`).
"""

from ipaddress import ip_network
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "UPLOADER_"


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# A setting that is a list, written in its variable as comma-separated values ("a, b"); empty: none.
CommaSeparated = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/uploader",
        description="PostgreSQL; one schema per service. `make run`: as role `uploader` with the password of "
                    "`var/postgres-password`, where the set-up made one")
    amqp_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/%2F", description="RabbitMQ (the vhost at the end)")
    loris_database_url: str | None = Field(
        default=None,
        description="a LORIS site's MariaDB, `mysql://user:password@host:3306/database` (a password URL-encoded), "
                    "which then holds the candidates, users and upload records (LORIS site mode, in progress; see "
                    "docs/loris-site.md); unset: standalone, the uploader's own PostgreSQL holds them")
    incoming_path: Path = Field(
        default=Path("var/incoming"),
        description="the scan store shared by the gateway and the launchers; a relative path is taken from the "
                    "folder the service starts in (compose and Kubernetes: `/data/incoming`, a volume they share)")
    log_level: str = Field(default="INFO", description="the lowest level of the JSON logs on stdout")
    prefetch: int = Field(default=16, ge=1, description="unacknowledged messages a consumer may hold")
    outbox_poll_seconds: float = Field(
        default=1.0, gt=0, description="outbox relay poll interval (a NOTIFY wakes it at once anyway)")
    host: str = Field(
        default="127.0.0.1",
        description="address every service listens on: its `/healthz`, and the gateway's and the logstore's API")
    port: int = Field(default=8080, description="the service's port (each service reads its own variable)")
    internal_secret: str | None = Field(
        default=None, min_length=16,
        description="shared by the gateway and the logstore, at least 16 characters; both refuse to start without "
                    "it, and the logstore refuses every request that does not carry it, so that no path serves "
                    "upload data without the gateway's checks (`make run`: random, kept in `var/internal-secret`)")
    outbox_retention_hours: float = Field(
        default=24.0, gt=0,
        description="published outbox rows are deleted this long after they were published (an unpublished one "
                    "never)")
    processed_events_retention_hours: float = Field(
        default=7 * 24.0, gt=0,
        description="every consumer: the record that an event was handled (its de-duplication) is kept this long; "
                    "a copy of an event delivered later than that (after a very long outage, or a dead letter "
                    "replayed) would be handled again, so keep it far longer than any message may wait")


class GatewaySettings(ServiceSettings):
    port: int = Field(default=8080, validation_alias="UPLOADER_GATEWAY_PORT",
                      description="the gateway's API, `/healthz`, `/readyz` and `/metrics`")
    max_upload_bytes: int = Field(default=50 * 1024**3, ge=1, description="largest accepted file")
    logstore_url: str = Field(
        default="http://127.0.0.1:8081",
        description="where the gateway finds the logstore (compose and Kubernetes: `http://logstore:8081`; "
                    "`make run`: on `UPLOADER_LOGSTORE_PORT` when that is set)")
    auto_launch: bool | None = Field(
        default=None,
        description="the gateway grants a run as soon as an upload (through `/api/v1`) is validated; uploads "
                    "through the LORIS API wait for a launch request, as in LORIS. Not given: true standalone; in "
                    "LORIS site mode, LORIS's Config `ImagingUploaderAutoLaunch` decides (`1`: true), read when an "
                    "upload is accepted (kept at most 60 s)")
    rule_check_timeout_seconds: float = Field(
        default=2.0, gt=0,
        description="how long the gateway waits for the validator's rule check before it accepts an upload anyway "
                    "(the validator decides on it later; the pre-flight answers 503 then)")
    login_token_hours: float = Field(
        default=24.0, gt=0,
        description="how long a token from the LORIS API's `POST /api/v0.0.4-dev/login` stays valid (LORIS: 24 h)")
    session_hours: float = Field(
        default=12.0, gt=0,
        description="how long a browser session (`POST /api/v1/session`) stays valid after its sign-in")
    sign_in_max_failures: int = Field(
        default=5, ge=1,
        description="failed sign-ins of one username, within the window, after which its sign-ins are refused "
                    "(429) for a while")
    sign_in_window_seconds: float = Field(default=60.0, gt=0, description="how long a failed sign-in counts")
    sign_in_max_failures_per_address: int = Field(
        default=30, ge=1,
        description="failed sign-ins from one client address (of any usernames), within the window, after which "
                    "that address's sign-ins are refused (429)")
    sign_in_checks_at_once: int = Field(
        default=2, ge=1,
        description="passwords a gateway checks at once (each an argon2id hash of 64 MiB of memory); one more "
                    "sign-in is answered 503 `sign_in_busy` with `Retry-After: 1`, without hashing")
    loris_user_reread_seconds: float = Field(
        default=30.0, gt=0, le=60,
        description="LORIS site mode: how long a gateway trusts what it last read of a signed-in LORIS user "
                    "(account state, permissions, sites, projects) before it reads the user again; a change in "
                    "LORIS holds for every session and API token within this time (at most 60 s)")
    trusted_proxies: CommaSeparated = Field(
        default=(),
        description="reverse proxies (addresses or CIDR blocks, comma-separated) whose `X-Forwarded-For` names the "
                    "client, for the per-address limit; from anyone else the header is ignored")
    rabbitmq_management_url: str = Field(
        default="http://127.0.0.1:15672",
        description="RabbitMQ's management API, for the status page's message rates; it uses the user, password "
                    "and vhost of `UPLOADER_AMQP_URL` unless the URL gives its own user and password "
                    "(`http://user:password@host:15672`); the vhost is always `UPLOADER_AMQP_URL`'s. "
                    "Compose: `http://rabbitmq:15672`")
    attempt_file_retention_hours: float = Field(
        default=7 * 24.0, gt=0,
        description="the file of an attempt that will not run again (replaced by an overwrite, rejected, or whose "
                    "run failed) is removed this long after; a failed upload can be launched again until then, and "
                    "must be uploaded again after")
    tus_expiry_hours: float = Field(
        default=24.0, gt=0,
        description="a tus upload (`/api/v1/tus/`) not finished this long after its creation expires (its "
                    "`Upload-Expires`): its bytes are removed and it must be sent again")
    idempotency_key_hours: float = Field(
        default=24.0, gt=0,
        description="how long the answer to an upload's `Idempotency-Key` is kept; a retry with an older key is "
                    "handled as a new upload")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            ip_network(proxy, strict=False)  # a ValueError names the bad one
        return proxies


class ValidatorSettings(ServiceSettings):
    port: int = Field(
        default=8082, validation_alias="UPLOADER_VALIDATOR_PORT",
        description="the validator's `/healthz`, `/readyz` and `/metrics` (`make run`: one port per replica, "
                    "from `UPLOADER_REPLICA_BASE_PORT`)")


class LauncherSettings(ServiceSettings):
    port: int = Field(
        default=8083, validation_alias="UPLOADER_LAUNCHER_PORT",
        description="the launcher's `/healthz`, `/readyz` and `/metrics` (`make run`: one port per replica, "
                    "from `UPLOADER_REPLICA_BASE_PORT` + 100)")
    max_concurrent_runs: int = Field(default=2, ge=1, description="pipeline runs at once, per launcher")
    pipeline_command: str = Field(
        default="{python} -m pipeline --upload-id {upload_id} --patient-name={patient_name} "
                "--output-dir {output_dir} {scan_path}",
        description="the pipeline, as arguments (no shell: each placeholder fills one argument, whatever it "
                    "holds). Placeholders: `{python}`, `{upload_id}`, `{attempt}`, `{scan_path}`, `{file_name}`, "
                    "`{patient_name}`, `{candid}`, `{pscid}`, `{visit_label}`, `{profile}`, `{phantom}` (`Y` or "
                    "`N`, as LORIS writes it), `{output_dir}` (`UPLOADER_PIPELINE_OUTPUT_PATH/<upload id>`), "
                    "`{loris_upload_id}` (LORIS site mode: the upload's `mri_upload.UploadID`; a run of an upload "
                    "without one is not started). For LORIS-MRI, see *Plugging in LORIS-MRI*")
    pipeline_profile: str = Field(
        default="prod",
        description="the command's `{profile}`: LORIS-MRI's configuration file under its "
                    "`dicom-archive/.loris_mri/`")
    pipeline_environment: CommaSeparated = Field(
        default=(),
        description="names of variables, comma-separated, that the pipeline gets from the launcher's environment "
                    "beyond `PATH`, `HOME`, `LANG`, `LC_ALL`, `LC_CTYPE`, `TMPDIR`, `TZ` and the reference "
                    "pipeline's own settings (`UPLOADER_IDENTIFYING_TAGS`, `UPLOADER_DCM2NIIX`, "
                    "`UPLOADER_LORIS_MRI_DATABASE_URL`, `UPLOADER_ARCHIVE_*`); nothing else reaches it: what a site's LORIS-MRI needs. A name that is "
                    "not set is left out; a name of the uploader's own settings (`UPLOADER_DATABASE_URL`, ...) "
                    "stops the launcher at start. See *Plugging in LORIS-MRI*")
    pipeline_output_path: Path = Field(
        default=Path("var/output"),
        description="the command's `{output_dir}` is this folder's `<upload id>`; the reference pipeline keeps "
                    "there what it made of the upload (its NIfTI images and DICOM archive summary), replaced whole "
                    "by a later run. A relative path is taken from the folder the launcher starts in (compose and "
                    "Kubernetes: `/data/output`, a volume of its own)")
    keep_scan_after_success: bool = Field(
        default=False,
        description="keep a scan in the incoming path after its upload succeeded (it is removed by default; a "
                    "failed upload's scan always stays, so that it can be launched again or overwritten)")
    heartbeat_seconds: float = Field(
        default=10.0, gt=0,
        description="how often a running pipeline's launcher says it is alive. A launcher that cannot beat for 2 "
                    "beats stops its own runs; a run silent for 3 beats is taken back by any launcher (run again, "
                    "or failed as interrupted)")
    shutdown_grace_seconds: float = Field(
        default=30.0, ge=0,
        description="on SIGTERM, how long a launcher lets running pipelines finish before stopping them")
    pipeline_rerun_safe: bool | None = Field(
        default=None,
        description="whether the pipeline may simply be run again when its run was interrupted (its launcher shut "
                    "down, died, lost its database); unset: `true` for the reference pipeline (the default "
                    "command), `false` for any other command. `false`: the upload fails with the cause "
                    "\"interrupted\" and a user launches it again. Set it `true` for LORIS-MRI only if a half-done "
                    "insertion may be redone")
    pipeline_max_reruns: int = Field(
        default=3, ge=0,
        description="how many times an interrupted run is run again on its own before it fails as interrupted")
    pipeline_timeout_minutes: float = Field(
        default=720.0, ge=0,
        description="a run still going after this long is stopped with its whole process group and fails with "
                    "\"timed out after N minutes\" (`0`: no limit)")
    kubernetes_service_account_path: Path = Field(
        default=Path("/var/run/secrets/kubernetes.io/serviceaccount"),
        description="launchers in Kubernetes: the folder of the pod's service account (`token`, and the API's "
                    "`ca.crt`), with which a launcher keeps its pod's deletion cost at its runs in flight")

    @property
    def rerun_safe(self) -> bool:
        if self.pipeline_rerun_safe is not None:
            return self.pipeline_rerun_safe
        return self.pipeline_command == type(self).model_fields["pipeline_command"].default

    @property
    def pipeline_timeout_seconds(self) -> float | None:
        return self.pipeline_timeout_minutes * 60 or None


class LogstoreSettings(ServiceSettings):
    port: int = Field(default=8081, validation_alias="UPLOADER_LOGSTORE_PORT",
                      description="the logstore's API (internal: it answers only the gateway)")
    log_stream_recheck_seconds: float = Field(
        default=5.0, gt=0,
        description="a live log stream (`GET .../log/events`) reads again at least this often; a PostgreSQL NOTIFY "
                    "wakes it at once otherwise, so this only bounds the delay when a notification is lost (or the "
                    "listener reconnects after a database restart)")
    log_stream_ping_seconds: float = Field(
        default=15.0, gt=0,
        description="a comment line this often keeps an idle live log stream open through proxies (keep it under "
                    "60: the gateway takes a minute of silence for a logstore gone)")


NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class DemoUserSettings(BaseSettings):
    """What the gateway's demo loader (python -m services.gateway.admin.demo_user) gives the demo user."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}DEMO_", extra="ignore")

    token: NonBlank = Field(description="the demo user's API token (`make run`: random, kept in `var/demo-token`)")
    password: NonBlank = Field(
        description="the demo user's password, for the web page and the LORIS API's login (`make run`: random, "
                    "kept in `var/demo-password`)")


class ScriptSettings(BaseSettings):
    """Documentation only: variables that the scripts (scripts/*.sh) and docker-compose.yml read, never Python.
    No code makes this class; it is here so that the settings table lists them with the others, and
    tests/unit/common/test_settings_table.py checks that the scripts and compose use each name, with this
    default."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    db_name: str = Field(default="uploader", description="the database `make run` creates and uses")
    loris_db_name: str = Field(
        default="loris",
        description="`scripts/setup.sh --with-loris --with-database`: the LORIS database it makes on the local "
                    "MariaDB, with the "
                    "stand-in LORIS tables (`loris_standin/schema.sql`) and a MariaDB user `uploader` granted what "
                    "the uploader needs there (its password in `var/loris-password`)")
    skip_servers: int = Field(
        default=0,
        description="`1`: the scripts leave RabbitMQ, PostgreSQL and MariaDB alone (servers elsewhere)")
    replica_base_port: int = Field(
        default=9000,
        description="`make run`: validators' `/readyz` ports start here, launchers' 100 above "
                    "(`UPLOADER_VALIDATOR_PORT` / `UPLOADER_LAUNCHER_PORT` are set per replica)")
    grafana_admin_password: str = Field(
        default="admin", validation_alias="GRAFANA_ADMIN_PASSWORD",
        description="compose, `monitoring` profile: Grafana's admin password")
