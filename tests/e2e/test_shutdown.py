"""Every service stops cleanly and promptly on SIGTERM, as `docker stop` and `make run`'s Ctrl-C ask."""

import signal
import time

import pytest

from tests.support.stack import SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_exits_with_status_0_within_seconds_of_sigterm(stack, service):
    started = time.monotonic()
    status = stack.stop_service(service, signal.SIGTERM, timeout=20)
    assert status == 0, stack.log_tail(service)
    assert time.monotonic() - started < 15
    assert '"level": "ERROR"' not in stack.log_tail(service, 200)
    stack.start_service(service)
    stack.wait_healthy(service)
