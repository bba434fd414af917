"""Runs a pipeline command so that nothing of it outlives its launcher or its end.

    python -I -S process_guard.py <watch_fd> <kill_after_seconds> <exit_file> <command> [args...]

The launcher starts this guard as the leader of a new process group and keeps
the write end of a pipe whose read end is <watch_fd>. The guard runs the
command in its group and waits:
- if the launcher dies, even by SIGKILL, the pipe reaches end of file: the
  guard stops the whole group (SIGTERM, then SIGKILL after
  <kill_after_seconds>), so no pipeline runs on without a launcher;
- when the command ends on its own, the guard writes its exit code to
  <exit_file> (durably: a temporary file, fsync, rename), so that a launcher
  dying in the next instant cannot lose a finished run: whoever takes the run
  back reads it there (services/launcher/run_exits.py);
- then the guard stops what the command left behind in the group, and exits
  with the command's status (its exit code, or the same signal).

The launcher stops a run by signalling the guard, then the whole group, with
SIGTERM: the command gets it directly, and the guard, which holds it blocked,
waits for the command's own end. A command that ended once its stop was asked
for (SIGTERM pending in the guard), or while the launcher was gone, did not
end on its own: no exit file, the run stays interrupted. Standard library
only, run in isolated mode: it starts in milliseconds.
"""

import os
import resource
import select
import signal
import sys
import time

POLL_SECONDS = 0.05


def main() -> None:
    watch_fd, kill_after, exit_file, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ignored, and blocked so that it stays pending: asked to stop
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        child = os.posix_spawnp(argv[0], argv, os.environ, setsigdef=(signal.SIGTERM,), setsigmask=(),
                                file_actions=[(os.POSIX_SPAWN_CLOSE, watch_fd)])
    except OSError as error:
        print(f"[error] The pipeline command could not be started: {error}", file=sys.stderr, flush=True)
        sys.exit(127)
    child_ended = os.pidfd_open(child)
    readable, _, _ = select.select([watch_fd, child_ended], [], [])
    if child_ended not in readable:  # the launcher is gone
        stop_group(kill_after)
    _, status = os.waitpid(child, 0)
    if watch_fd not in readable and not stop_asked():
        keep_exit_code(exit_file, os.waitstatus_to_exitcode(status))
    stop_leftovers(kill_after)
    exit_like(status)


def stop_asked() -> bool:
    return signal.SIGTERM in signal.sigpending()


def keep_exit_code(path: str, exit_code: int) -> None:
    """The exit code in `path`, whole or not at all, on disk before the guard exits."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, f"{exit_code}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
        folder = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as error:
        print(f"[warning] The pipeline's exit code could not be kept in {path} ({error}); should the launcher "
              "stop before it records the end, the run would count as interrupted.", file=sys.stderr, flush=True)


def stop_group(kill_after: float) -> None:
    """SIGTERM to the group, then SIGKILL to it (the guard included) if anything is left."""
    os.killpg(0, signal.SIGTERM)
    if wait_until_alone(kill_after):
        return
    os.killpg(0, signal.SIGKILL)


def stop_leftovers(kill_after: float) -> None:
    """Processes the command started and left running in the group, stopped like the group."""
    if not others_in_group():
        return
    os.killpg(0, signal.SIGTERM)
    if not wait_until_alone(kill_after):
        for pid in others_in_group():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_until_alone(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not others_in_group():
            return True
        time.sleep(POLL_SECONDS)
    return not others_in_group()


def others_in_group() -> list[int]:
    """The live processes of this group but the guard (zombies left aside: they run nothing)."""
    me, group = os.getpid(), os.getpgid(0)
    others = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state not in ("Z", "X"):
            others.append(int(entry))
    return others


def exit_like(status: int) -> None:
    """Exit with the command's code, or die by the signal that killed it (SIGKILL included, which has no
    handler to reset), without a core dump of the guard's own: the command's is the one that tells."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # a pending SIGTERM, ignored, is dropped
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.kill(os.getpid(), sig)
        sys.exit(128 + sig)  # not reached: the signal's default is to end the process
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
