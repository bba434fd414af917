"""The API as its own OpenAPI document describes it: schemathesis reads the
document the gateway serves and sends what it describes and what it does
not, in every phase: the document's examples, boundary values of every
parameter (coverage), random and malformed requests (fuzzing), and chains of
requests that follow the document's links from a real upload's 202 to that
upload's page, log, runs and launch (stateful), all with the demo user's
token. No request may make the server fail (a 5xx), and every answer must be
one the document lists, in the shape and with the headers it gives.

The four services run in-process; schemathesis runs as its command-line tool
in a subprocess, so that this test's event loop keeps serving while it asks.
A failure prints schemathesis's report, each failing request with the curl
command that sends it again."""

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import pytest

from services.gateway.__main__ import build_app as build_gateway
from services.gateway.openapi import openapi_document
from services.launcher.__main__ import build_app as build_launcher
from services.logstore.__main__ import build_app as build_logstore
from services.validator.__main__ import build_app as build_validator
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import leave_no_launch_over
from tests.support.inprocess import running_app

MAX_UPLOAD_BYTES = 64 * 1024
PHASES = "examples,coverage,fuzzing,stateful"
# Every check but these: positive_data_acceptance (a well-formed upload of a random candidate is refused by the
# validator's rules, as it should be); unsupported_method and allow_header_conformance (GET of
# /api/v1/uploads/check is the GET of /api/v1/uploads/{upload_id} with the id "check", a 400, so that path
# allows GET); and object_level_authorization (it needs a second user's credentials).
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "missing_required_header",
    "ignored_auth",
    "negative_data_rejection",
    "use_after_free",
    "ensure_resource_availability",
])
# schemathesis reads constraints into the API's 4xx bodies ("error feedback"); from ours it concluded that the
# document's upload example was invalid, stopped sending it, and then no upload was accepted and no link followed.
# tus answers a request without `Tus-Resumable: 1.0.0` with 412 Precondition Failed, as its protocol says.
CONFIG = """\
[phases.fuzzing.error-feedback]
enabled = false

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", "429", "5xx"]

[checks.missing_required_header]
expected-statuses = ["400", "401", "403", "406", "412", "415", "422"]
"""
MAX_EXAMPLES = 200
SEED = 20240610
RUN_TIMEOUT_SECONDS = 150
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


@pytest.fixture
async def gateway_url(gateway_settings, logstore_settings, validator_settings, launcher_settings, amqp_url, pool):
    """The four services; auto-launch is off, so that a run starts when schemathesis launches an upload. The
    reference pipeline fails each (empty) archive at once, which lets the next upload of its name replace it."""
    await leave_no_launch_over(amqp_url, pool)
    async with running_app(build_logstore(logstore_settings())) as logstore_url, \
            running_app(build_validator(validator_settings())), \
            running_app(build_launcher(launcher_settings(shutdown_grace_seconds=5))):
        settings = gateway_settings(max_upload_bytes=MAX_UPLOAD_BYTES, logstore_url=logstore_url, auto_launch=False)
        async with running_app(build_gateway(settings)) as url:
            yield url


def schemathesis_command(gateway_url: str, config_file: Path, report_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_file), "--no-color",
        "run", f"{gateway_url}/api/v1/openapi.json",
        "--url", gateway_url,
        "--header", f"Authorization: Bearer {DEMO_TOKEN}",
        "--phases", PHASES,
        # An endless stream of server-sent events, never an answer: tests/integration/test_log_stream.py covers it.
        "--exclude-operation-id", "streamUploadLog",
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--generation-database", "none",
        "--workers", "1",
        "--request-timeout", "20",
        "--suppress-health-check", "all",
        "--continue-on-failure",
        "--report", "junit",
        "--report-dir", str(report_dir),
        "--output-truncate", "false",
    ]


async def run_schemathesis(command: list[str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160", "SCHEMATHESIS_HOOKS": str(HOOKS)},
    )
    try:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        raise AssertionError(f"schemathesis ran longer than {RUN_TIMEOUT_SECONDS} s:\n{output.decode()}") from None
    return process.returncode, output.decode(errors="replace")


async def test_the_gateway_serves_the_document_to_a_user_with_a_token(gateway_url, http):
    async with http.get(f"{gateway_url}/api/v1/openapi.json", headers={"Authorization": f"Bearer {DEMO_TOKEN}"}) as answer:
        assert answer.status == 200
        assert await answer.json() == openapi_document()
    async with http.get(f"{gateway_url}/api/v1/openapi.json") as answer:
        assert answer.status == 401


@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 60)
async def test_no_request_the_document_describes_or_breaks_makes_the_server_fail(gateway_url, tmp_path):
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(CONFIG)
    started = time.monotonic()

    returncode, output = await run_schemathesis(schemathesis_command(gateway_url, config_file, tmp_path / "report"),
                                                tmp_path)

    print(output, f"schemathesis ran for {time.monotonic() - started:.1f} s", sep="\n")
    assert returncode == 0, output
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ +{phase} \(in ", output), f"the {phase} phase did not run and pass:\n{output}"
    links = re.search(r"API Links: +(\d+) covered", output)
    assert links and int(links[1]) >= 1, f"the stateful phase followed no link from an accepted upload:\n{output}"
