"""A SIGTERM (the launcher stopping a run) unwinds through the run's cleanup, then ends the process by SIGTERM."""

import os
import signal
import sys
from collections.abc import Callable


class _Terminated(BaseException):
    """SIGTERM arrived; unwinds through the run's `finally` blocks (its work directory's removal)."""


def _raise_terminated(signum, frame):
    raise _Terminated


def exit_with(main: Callable[[], int]) -> None:
    """Runs main and exits with its code; on SIGTERM, after the cleanup, ends by SIGTERM, as the launcher expects."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        sys.exit(main())
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
