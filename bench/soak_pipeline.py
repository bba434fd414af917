"""The reference pipeline as bench/soak.py runs it, with a witness of double runs.

    python bench/soak_pipeline.py --journal DIR --run UPLOAD-ATTEMPT -- <reference pipeline arguments>

Before it becomes the reference pipeline (exec, same process), it appends a line to DIR/started (how many
pipeline processes the soak started) and takes an exclusive lock on DIR/UPLOAD-ATTEMPT.lock. The lock is
inherited through the exec and the kernel releases it only when the process has ended, whatever killed it,
so a second process of the same upload attempt that finds the lock taken proves that two runs of one
attempt were alive at the same time, whatever the run tables say: it records DIR/UPLOAD-ATTEMPT.overlap
and goes on as the pipeline would.
"""

import argparse
import fcntl
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--run", required=True, help="upload_id-attempt")
    parser.add_argument("pipeline_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    with open(args.journal / "started", "a") as started:
        started.write(f"{args.run} {os.getpid()}\n")
    lock = os.open(args.journal / f"{args.run}.lock", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        with open(args.journal / f"{args.run}.overlap", "a") as overlap:
            overlap.write(f"{os.getpid()}\n")
    else:
        os.set_inheritable(lock, True)  # held by the pipeline the exec below becomes, until it ends
    pipeline_args = [arg for arg in args.pipeline_args if arg != "--"]
    os.execv(sys.executable, [sys.executable, "-m", "pipeline", *pipeline_args])


if __name__ == "__main__":
    main()
