"""The guard a pipeline runs under: it keeps the command's exit status (and
leaves it in its exit file when the command ended on its own), stops what the
command left running, and stops the whole process group when the launcher
that started it dies."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.launcher.execute import GUARD
from tests.support.live_processes import is_alive

KILL_AFTER = 1.0


def guarded(*argv: str, exit_file: Path | None = None) -> tuple[subprocess.Popen, int]:
    """The guard running argv as the launcher starts it; returns it and the launcher's end of the pipe."""
    watch, launcher_alive = os.pipe()
    exit_file = exit_file or Path("/nonexistent/folder/run.exit")
    guard = subprocess.Popen([sys.executable, "-I", "-S", str(GUARD), str(watch), str(KILL_AFTER), str(exit_file),
                              *argv],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             pass_fds=(watch,), text=True)
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


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV, signal.SIGABRT])
def test_a_command_killed_by_any_signal_ends_the_guard_by_that_signal_without_a_word_of_its_own(sig, tmp_path):
    guard, launcher_alive = guarded("sh", "-c", f"ulimit -c 0; kill -{sig.name.removeprefix('SIG')} $$",
                                    exit_file=tmp_path / "run.exit")
    assert guard.wait(10) == -sig
    assert guard.stderr.read() == ""  # no traceback in the run's error output
    assert (tmp_path / "run.exit").read_text() == f"{-sig}\n"
    os.close(launcher_alive)


def test_the_exit_code_of_a_command_that_ended_on_its_own_is_kept_in_the_exit_file(tmp_path):
    exit_file = tmp_path / "run-7.exit"
    guard, launcher_alive = guarded("sh", "-c", "exit 3", exit_file=exit_file)
    assert guard.wait(10) == 3
    assert exit_file.read_text() == "3\n"
    assert [path.name for path in tmp_path.iterdir()] == ["run-7.exit"]  # no temporary file left
    os.close(launcher_alive)


def test_the_exit_code_is_kept_even_when_the_launcher_dies_right_after_the_command_ended(tmp_path):
    exit_file = tmp_path / "run.exit"
    # The command ends at once, leaving a process the guard must stop: the launcher dies meanwhile.
    lingering = "trap '' TERM; sleep 300 & echo $!"
    guard, launcher_alive = guarded("sh", "-c", lingering, exit_file=exit_file)
    int(guard.stdout.readline())
    deadline = time.monotonic() + 5
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.01)

    os.close(launcher_alive)

    assert guard.wait(10) == 0
    assert exit_file.read_text() == "0\n"


def test_no_exit_code_is_kept_when_the_launcher_dies_while_the_command_runs(tmp_path):
    exit_file = tmp_path / "run.exit"
    guard, launcher_alive = guarded("sh", "-c", "echo started; sleep 300", exit_file=exit_file)
    assert guard.stdout.readline() == "started\n"

    os.close(launcher_alive)

    assert guard.wait(10) == -signal.SIGTERM
    assert not exit_file.exists()


def test_no_exit_code_is_kept_when_the_launcher_stops_the_run(tmp_path):
    exit_file = tmp_path / "run.exit"
    guard, launcher_alive = guarded("sh", "-c", "echo started; sleep 300", exit_file=exit_file)
    assert guard.stdout.readline() == "started\n"

    os.kill(guard.pid, signal.SIGTERM)  # as the launcher's terminate(): the guard first, then its group
    os.killpg(guard.pid, signal.SIGTERM)

    assert guard.wait(10) == -signal.SIGTERM
    assert not exit_file.exists()
    os.close(launcher_alive)


def test_an_exit_file_that_cannot_be_written_is_said_and_the_exit_code_kept_all_the_same():
    guard, launcher_alive = guarded("sh", "-c", "exit 5", exit_file=Path("/nonexistent/folder/run.exit"))
    assert guard.wait(10) == 5
    assert "could not be kept in /nonexistent/folder/run.exit" in guard.stderr.read()
    os.close(launcher_alive)
