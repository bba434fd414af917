"""Settings read from environment variables, all under one prefix: UPLOADER_.

Each service has one settings class; the fields every service needs live in
the base class. docs/configuration.md's table lists every variable.
"""

from ipaddress import ip_network
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator
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

    database_url: str = "postgresql://postgres@127.0.0.1:5432/uploader"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    incoming_path: Path = Path("var/incoming")
    log_level: str = "INFO"
    prefetch: int = Field(default=16, ge=1, description="unacknowledged messages a consumer may hold")
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    # Every service answers /healthz on host:port; the gateway and the logstore
    # also serve their API there.
    host: str = "127.0.0.1"
    port: int = 8080
    # The gateway sends it with every request to the logstore, which refuses
    # any request without it: no path serves upload data without the gateway's checks.
    internal_secret: str | None = Field(default=None, min_length=16)
    # Published outbox rows are deleted this long after they were published (unpublished ones never).
    outbox_retention_hours: float = Field(default=24.0, gt=0)
    # De-duplication records of consumed events are deleted after this long. A copy of an event delivered
    # later than that (a long outage, a dead letter replayed) would be handled again: keep it far longer
    # than any message may wait.
    processed_events_retention_hours: float = Field(default=7 * 24.0, gt=0)


class GatewaySettings(ServiceSettings):
    port: int = Field(default=8080, validation_alias="UPLOADER_GATEWAY_PORT")
    max_upload_bytes: int = Field(default=50 * 1024**3, ge=1)
    logstore_url: str = "http://127.0.0.1:8081"
    # Run the pipeline as soon as an upload (through /api/v1) is validated.
    auto_launch: bool = True
    # How long the gateway waits for the validator's rule check before it
    # accepts an upload anyway (the validator decides on it later).
    rule_check_timeout_seconds: float = Field(default=2.0, gt=0)
    # How long a token from the LORIS API's POST /api/v0.0.4-dev/login stays valid (LORIS: 24 h).
    login_token_hours: float = Field(default=24.0, gt=0)
    # How long a browser session (POST /api/v1/session) lasts after its sign-in.
    session_hours: float = Field(default=12.0, gt=0)
    # Sign-ins of a username are refused for a while after this many failures within the window.
    sign_in_max_failures: int = Field(default=5, ge=1)
    sign_in_window_seconds: float = Field(default=60.0, gt=0)
    # ... and the sign-ins from one client address, after this many failures (of any usernames) within the window.
    sign_in_max_failures_per_address: int = Field(default=30, ge=1)
    # Sign-ins a gateway checks at once (each an argon2 hash of 64 MiB of memory); one more is refused with 503.
    sign_in_checks_at_once: int = Field(default=2, ge=1)
    # Reverse proxies (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For names the client;
    # from anyone else the header is ignored.
    trusted_proxies: CommaSeparated = ()
    # RabbitMQ's management API, for the message rates on the status page. Its user and password are those of
    # amqp_url unless the URL gives its own (http://user:password@host:15672); the vhost is always amqp_url's.
    rabbitmq_management_url: str = "http://127.0.0.1:15672"
    # The file of an attempt that will not run again (replaced by an overwrite, rejected, or whose run failed)
    # is removed this long after; a failed upload must then be uploaded again to run.
    attempt_file_retention_hours: float = Field(default=7 * 24.0, gt=0)
    # How long the answer to an upload's Idempotency-Key is kept; an older key is treated as new.
    idempotency_key_hours: float = Field(default=24.0, gt=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            ip_network(proxy, strict=False)  # a ValueError names the bad one
        return proxies


class ValidatorSettings(ServiceSettings):
    port: int = Field(default=8082, validation_alias="UPLOADER_VALIDATOR_PORT")


class LauncherSettings(ServiceSettings):
    port: int = Field(default=8083, validation_alias="UPLOADER_LAUNCHER_PORT")
    max_concurrent_runs: int = Field(default=2, ge=1)
    pipeline_command: str = ("{python} -m pipeline --upload-id {upload_id} --patient-name={patient_name} "
                             "--output-dir {output_dir} {scan_path}")
    pipeline_profile: str = "prod"  # the command's {profile}: LORIS-MRI's configuration file
    # Names of variables the pipeline gets from the launcher's environment, comma-separated, beyond the few it
    # always gets (services/launcher/pipeline_environment.py): what a site's LORIS-MRI needs.
    pipeline_environment: CommaSeparated = ()
    # The command's {output_dir} is this folder's <upload id>: what the reference pipeline keeps (NIfTI, summary).
    pipeline_output_path: Path = Path("var/output")
    # After Success the scan leaves the incoming path, unless this keeps it (a Failure's always stays).
    keep_scan_after_success: bool = False
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # Whether a run interrupted by its launcher (shut down, died, lost its database) may be run again
    # on its own; unset, it is true for the reference pipeline only (the default command).
    pipeline_rerun_safe: bool | None = None
    pipeline_max_reruns: int = Field(default=3, ge=0)
    # Stop a run after this long (0: no limit); the upload fails with "timed out after N minutes".
    pipeline_timeout_minutes: float = Field(default=720.0, ge=0)
    # In Kubernetes: the pod's service account (its token and the API's CA), with which the launcher keeps
    # its pod's deletion cost at its runs in flight (services/launcher/pod_deletion_cost.py).
    kubernetes_service_account_path: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount")

    @property
    def rerun_safe(self) -> bool:
        if self.pipeline_rerun_safe is not None:
            return self.pipeline_rerun_safe
        return self.pipeline_command == type(self).model_fields["pipeline_command"].default

    @property
    def pipeline_timeout_seconds(self) -> float | None:
        return self.pipeline_timeout_minutes * 60 or None


class LogstoreSettings(ServiceSettings):
    port: int = Field(default=8081, validation_alias="UPLOADER_LOGSTORE_PORT")
    # A live log stream (GET .../log/events) reads again at least this often, even without a
    # notification (one lost, or the listener reconnecting after a database restart).
    log_stream_recheck_seconds: float = Field(default=5.0, gt=0)
    # A comment line this often keeps proxies from closing an idle stream.
    log_stream_ping_seconds: float = Field(default=15.0, gt=0)
