"""Starting and stopping the real processes the tests run (services, honcho, Prometheus): waiting until
one answers its readiness URL, and stopping one with a signal and, past a timeout, SIGKILL."""

import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable


def wait_until_ready(name: str, process: subprocess.Popen, url: str, log_tail: Callable[[], str],
                     timeout: float = 60) -> None:
    """Until `url` answers 200; fails with the log's tail when the process exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} was not ready ({url}) within {timeout} s:\n{log_tail()}")


def stop_process(process: subprocess.Popen, timeout: float, sig: int = signal.SIGTERM) -> bool:
    """Send `sig` and wait; past the timeout, SIGKILL. True if it stopped by itself in time."""
    process.send_signal(sig)
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


class Started:
    """What a test starts and must stop, as a context manager: start() on entry, stop() on exit, and stop()
    too when start() fails halfway, so that nothing it started already is left running."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
