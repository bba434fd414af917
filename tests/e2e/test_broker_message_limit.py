"""A pipeline printing lines larger than the broker takes still ends its upload: the whole stack runs on a
RabbitMQ node of this module's own whose max_message_size is the launcher's event budget (4 MiB, a quarter of
RabbitMQ 4's default). The launcher cuts what would not fit, with a marker; nothing is set aside."""

import re
import sys

import pytest

from services.launcher.output_budget import MAX_EVENT_BYTES
from tests.support.api import UploaderClient
from tests.support.private_servers import PrivateRabbitMQ
from tests.support.stack import REPO_ROOT

CONTROL_LINE_BYTES = 1024**2  # six times larger in JSON
STDERR_LINE_BYTES = 8 * 1024**2  # read in 1 MiB pieces: a stderr tail of 8 MiB before
MARKER = re.compile(r"… \[cut: [\d,]+ more bytes\]$")


@pytest.fixture(scope="module")
def small_broker():
    with PrivateRabbitMQ(extra_config=f"max_message_size = {MAX_EVENT_BYTES}\n") as node:
        yield node


@pytest.fixture(scope="module")
def stack_overrides(small_broker) -> dict[str, str]:
    script = REPO_ROOT / "tests" / "support" / "huge_line_pipeline.py"
    return {"UPLOADER_AMQP_URL": small_broker.amqp_url,
            "UPLOADER_PIPELINE_COMMAND": f"{sys.executable} {script} --control-bytes {CONTROL_LINE_BYTES} "
                                         f"--stderr-bytes {STDERR_LINE_BYTES}"}


async def test_an_upload_whose_pipeline_prints_lines_larger_than_the_broker_takes_ends_with_them_cut(
        client: UploaderClient, archive):
    upload_id = (await (await client.upload(archive(), candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]

    assert (await client.wait_for_progress(upload_id, timeout=120))["progress"] == "Failure"

    runs = (await (await client.get(f"/api/v1/uploads/{upload_id}/runs")).json())["runs"]
    tail = runs[-1]["stderr_tail"]
    assert len(tail) == STDERR_LINE_BYTES // 1024**2, "each 1 MiB piece of the stderr line is a line of the tail"
    assert all(line.startswith("EEEE") and MARKER.search(line) for line in tail), [line[-40:] for line in tail]
    assert sum(len(line) for line in tail) < 100 * 1024

    log = await client.log(upload_id, mode="detailed", limit=100)
    pipeline = [line["message"] for line in log["lines"] if line["origin"] == "pipeline"]
    [control] = [message for message in pipeline if message.startswith("\x07")]
    assert MARKER.search(control), control[-60:]
    assert "giving up after the huge lines" in pipeline, "the lines after the huge ones reached the log"

    status = await (await client.get("/api/v1/status")).json()
    assert [outbox["set_aside"] for outbox in status["outboxes"]] == [0, 0, 0, 0]
