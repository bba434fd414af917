"""Runs a pipeline command so that nothing of it outlives its launcher or its end.

    python -I -S process_guard.py <watch_fd> <kill_after_seconds> <command> [args...]

The launcher starts this guard as the leader of a new process group and keeps
the write end of a pipe whose read end is <watch_fd>. The guard runs the
command in its group and waits:
- if the launcher dies, even by SIGKILL, the pipe reaches end of file: the
  guard stops the whole group (SIGTERM, then SIGKILL after
  <kill_after_seconds>), so no pipeline runs on without a launcher;
- when the command ends, the guard stops what it left behind in the group,
  then exits with the command's status (its exit code, or the same signal).

The launcher stops a run by signalling the whole group: SIGTERM reaches the
command directly, and the guard, which ignores it, waits for the command's own
end. Standard library only, run in isolated mode: it starts in milliseconds.
"""

import os
import select
import signal
import sys
import time

POLL_SECONDS = 0.05


def main() -> None:
    watch_fd, kill_after, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        child = os.posix_spawnp(argv[0], argv, os.environ, setsigdef=(signal.SIGTERM,),
                                file_actions=[(os.POSIX_SPAWN_CLOSE, watch_fd)])
    except OSError as error:
        print(f"[error] The pipeline command could not be started: {error}", file=sys.stderr, flush=True)
        sys.exit(127)
    child_ended = os.pidfd_open(child)
    readable, _, _ = select.select([watch_fd, child_ended], [], [])
    if child_ended not in readable:  # the launcher is gone
        stop_group(kill_after)
    _, status = os.waitpid(child, 0)
    stop_leftovers(kill_after)
    exit_like(status)


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
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
