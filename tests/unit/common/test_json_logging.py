"""Every log line is one JSON object that says which service and replica wrote
it and, inside log_context.about(...), which upload, attempt and event it is about."""

import asyncio
import json
import logging
import uuid

import pytest

from services.common.json_logging import configure_logging
from services.common.log_context import about


class CapturedLog:
    def __init__(self, capsys) -> None:
        self._capsys = capsys

    def start(self) -> None:
        """Log as a service does; the handler takes sys.stdout as the test sees it (captured)."""
        configure_logging("launcher", "host-1:42:abc123")

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self._capsys.readouterr().out.splitlines()]


@pytest.fixture
def captured(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield CapturedLog(capsys)
    root.handlers[:], level = saved
    root.setLevel(level)


def test_a_line_names_its_service_and_replica_and_carries_the_fields_of_its_context(captured):
    captured.start()
    event_id = uuid.uuid4()
    log = logging.getLogger("test")
    log.info("outside")
    with about(upload_id=7, attempt=2):
        with about(event_id=event_id):
            log.info("inside", extra={"queue": "uploader.launcher"})
        log.warning("after the event")

    outside, inside, after = captured.lines()
    assert outside["service"] == "launcher" and outside["replica"] == "host-1:42:abc123"
    assert "upload_id" not in outside
    assert (inside["message"], inside["upload_id"], inside["attempt"], inside["event_id"], inside["queue"]) == (
        "inside", 7, 2, str(event_id), "uploader.launcher")
    assert after["upload_id"] == 7 and "event_id" not in after and after["level"] == "WARNING"


def test_a_field_given_to_the_call_wins_over_the_context(captured):
    captured.start()
    with about(upload_id=7):
        logging.getLogger("test").info("about another upload", extra={"upload_id": 8})

    assert captured.lines()[0]["upload_id"] == 8


async def test_tasks_started_in_a_context_keep_their_own_fields(captured):
    captured.start()
    log = logging.getLogger("test")

    async def work(upload_id: int) -> None:
        with about(upload_id=upload_id):
            await asyncio.sleep(0)
            log.info("working")

    await asyncio.gather(work(1), work(2))

    assert sorted(line["upload_id"] for line in captured.lines()) == [1, 2]


def test_an_unknown_context_field_is_refused():
    with pytest.raises(ValueError, match="not a log context field"):
        with about(upload=1):
            pass
