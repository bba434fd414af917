"""A pipeline whose every run can be told apart in the log: it prints --lines numbered lines,
"[info] line <i> of <n> from pid <pid> in group <group>", one every --delay seconds, then runs the reference pipeline
(or the module --module names) with the arguments it was given (exec, so the pid stays the pipeline's).
The fault tests use it to find a log line saved twice, or out of order, or a run's lines missing. The group
is the run's process group, whose leader is the process the launcher started (the pid of the run's record).

    python tests/support/numbered_pipeline.py --lines 5 --delay 0.1 [--ledger DIR --run-key KEY] \
        [--module tests.support.spooling_pipeline] -- <the pipeline's arguments>

Like a pipeline that writes its own log files (LORIS-MRI does), it keeps going when nobody reads its
output any more (its launcher died): a lost stdout does not stop the numbered lines.

With --ledger, it holds an exclusive lock on DIR/KEY.lock for its whole life (the lock's descriptor
is kept open through the exec), KEY naming the upload's attempt ("{upload_id}-{attempt}"). A second
run of the same attempt that starts while the first one's process still lives finds the lock taken
and writes DIR/KEY.overlap-<pid>: two runs of one attempt at once, whatever the run records say.
"""

import argparse
import fcntl
import os
import sys
import time
from pathlib import Path


def hold_run_lock(ledger: Path, run_key: str) -> None:
    ledger.mkdir(parents=True, exist_ok=True)
    lock = os.open(ledger / f"{run_key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        (ledger / f"{run_key}.overlap-{os.getpid()}").write_text(
            f"pid {os.getpid()} started at {time.time():.3f} while another run of {run_key} was alive\n")
    os.set_inheritable(lock, True)  # held by the reference pipeline after the exec, until it exits


def say(line: str) -> None:
    try:
        os.write(1, line.encode() + b"\n")
    except OSError:  # nobody reads: go on, as a pipeline that logs to its own files does
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--ledger", type=Path)
    parser.add_argument("--run-key")
    parser.add_argument("--module", default="pipeline", help="the pipeline run after the lines (python -m)")
    parser.add_argument("pipeline_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.ledger is not None:
        hold_run_lock(args.ledger, args.run_key)
    pid, group = os.getpid(), os.getpgid(0)
    for number in range(1, args.lines + 1):
        say(f"[info] line {number} of {args.lines} from pid {pid} in group {group}")
        time.sleep(args.delay)
    pipeline_args = [arg for arg in args.pipeline_args if arg != "--"]
    os.execv(sys.executable, [sys.executable, "-m", args.module, *pipeline_args])


if __name__ == "__main__":
    main()
