"""A pipeline that prints thousands of lines, some with a NUL byte, bytes that
are not UTF-8 or a line of megabytes: every line reaches the log, readable and
in order, and the Detailed log is served in pages."""

import sys

import pytest

from tests.support.api import UploaderClient
from tests.support.stack import REPO_ROOT

LINES = 5000
LONG_LINE_BYTES = 3 * 1024**2  # longer than the launcher reads whole (1 MiB)


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    script = REPO_ROOT / "tests" / "support" / "noisy_pipeline.py"
    return {"UPLOADER_PIPELINE_COMMAND": f"{sys.executable} {script} --lines {LINES} --long-bytes {LONG_LINE_BYTES}"}


async def read_whole_log(client: UploaderClient, upload_id: int, mode: str) -> tuple[list[dict], int]:
    lines, after, pages = [], 0, 0
    while True:
        page = await client.log(upload_id, mode=mode, after=after)
        lines += page["lines"]
        after, pages = page["last_line_id"], pages + 1
        if not page["more"]:
            return lines, pages


async def test_every_line_of_a_long_and_messy_output_is_in_the_log_readable_and_in_order(client: UploaderClient, archive):
    upload_id = (await (await client.upload(archive(), candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    assert (await client.wait_for_progress(upload_id))["progress"] == "Success"

    detailed, pages = await read_whole_log(client, upload_id, "detailed")
    pipeline = [line["message"] for line in detailed if line["origin"] == "pipeline"]

    numbered = [message for message in pipeline if message.startswith("line ")]
    assert numbered == [f"line {n:06d}" for n in range(1, LINES + 1)]
    assert pages >= LINES // 1000, "the detailed log comes in pages of at most 1,000 lines"
    assert "a NUL byte: before\\x00after" in pipeline
    assert "not UTF-8: caf\\xe9.dcm" in pipeline
    long_pieces = [message for message in pipeline if message.startswith("L") or message.startswith("[verbose] L")]
    assert sum(len(piece) for piece in long_pieces) >= LONG_LINE_BYTES, "the long line is kept, in pieces"
    assert "a warning on stderr" in [line["message"] for line in detailed if line["is_error"]]

    summary, _ = await read_whole_log(client, upload_id, "summary")
    # stdout and stderr are two pipes: the stderr line may come anywhere.
    shown = [line["message"] for line in summary if line["origin"] == "pipeline"]
    assert sorted(shown) == sorted([f"printing {LINES} lines", "a warning on stderr", "done"])


async def test_a_page_past_the_limit_says_more_follow(client: UploaderClient, archive):
    upload_id = (await (await client.upload(archive(), candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    await client.wait_for_progress(upload_id)

    first = await client.log(upload_id, mode="detailed", limit=10)
    rest = await client.log(upload_id, mode="detailed", after=first["last_line_id"], limit=10)

    assert len(first["lines"]) == 10 and first["more"] is True
    assert rest["lines"][0]["line_id"] > first["last_line_id"]
    too_many = await client.get(f"/api/v1/uploads/{upload_id}/log", limit=10001)
    assert too_many.status == 400
