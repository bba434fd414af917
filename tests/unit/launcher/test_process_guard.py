"""The guard a pipeline runs under: it keeps the command's exit status, stops
what the command left running, and stops the whole process group when the
launcher that started it dies."""

import os
import subprocess
import sys
import time

from services.launcher.execute import GUARD
from tests.support.live_processes import is_alive

KILL_AFTER = 1.0


def guarded(*argv: str) -> tuple[subprocess.Popen, int]:
    """The guard running argv as the launcher starts it; returns it and the launcher's end of the pipe."""
    watch, launcher_alive = os.pipe()
    guard = subprocess.Popen([sys.executable, "-I", "-S", str(GUARD), str(watch), str(KILL_AFTER), *argv],
                             stdout=subprocess.PIPE, start_new_session=True, pass_fds=(watch,), text=True)
    os.close(watch)
    return guard, launcher_alive


def test_the_commands_exit_code_is_the_guards():
    guard, launcher_alive = guarded("sh", "-c", "exit 3")
    assert guard.wait(10) == 3
    os.close(launcher_alive)


def test_a_command_killed_by_a_signal_ends_the_guard_by_the_same_signal():
    guard, launcher_alive = guarded("sh", "-c", "kill -TERM $$")
    assert guard.wait(10) == -15
    os.close(launcher_alive)


def test_a_command_that_cannot_start_exits_127_saying_why():
    guard, launcher_alive = guarded("/nonexistent/pipeline")
    assert guard.wait(10) == 127
    os.close(launcher_alive)


def test_what_the_command_left_running_is_stopped_when_it_ends():
    guard, launcher_alive = guarded("sh", "-c", "sleep 300 & echo $!")
    left_behind = int(guard.stdout.readline())
    assert guard.wait(10) == 0
    assert not is_alive(left_behind)
    os.close(launcher_alive)


def test_when_the_launcher_dies_the_whole_group_is_stopped():
    guard, launcher_alive = guarded("sh", "-c", "sleep 300 & echo $!; sleep 300")
    child = int(guard.stdout.readline())

    os.close(launcher_alive)  # what the kernel does when the launcher dies, even by SIGKILL

    guard.wait(10)
    assert not is_alive(child)


def test_a_command_that_ignores_sigterm_is_killed_after_the_delay_when_the_launcher_dies():
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)"
    guard, launcher_alive = guarded(sys.executable, "-c", stubborn)
    assert guard.stdout.readline() == "ready\n"
    started = time.monotonic()

    os.close(launcher_alive)

    assert guard.wait(10) == -9
    assert KILL_AFTER <= time.monotonic() - started < KILL_AFTER + 2
