"""A pipeline whose end a test times. It prints --lines numbered lines, "[info] line <i> of <n> from pid <pid>
in group <group>" (as tests/support/numbered_pipeline.py does, for the fault accounting), writes
DIR/<run-key>.at-gate holding "<pid> <group>", and waits until DIR/open exists; then it starts a helper that
ignores SIGTERM and ends at once, with success.

The helper, left behind in the run's process group, holds the run's guard for the launcher's kill delay
(SIGTERM, then SIGKILL) after the pipeline ended: the moment when a launcher that dies has not recorded the
end yet, made long enough for a test to kill the launcher in it.

    python tests/support/gated_pipeline.py --gate DIR --run-key {upload_id}-{attempt} --lines 3
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

LINGERING = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gate", type=Path, required=True)
    parser.add_argument("--run-key", required=True)
    parser.add_argument("--lines", type=int, default=3)
    args, _ = parser.parse_known_args()
    pid, group = os.getpid(), os.getpgid(0)
    for number in range(1, args.lines + 1):
        print(f"[info] line {number} of {args.lines} from pid {pid} in group {group}", flush=True)
    (args.gate / f"{args.run_key}.at-gate").write_text(f"{pid} {group}\n")
    while not (args.gate / "open").exists():
        time.sleep(0.05)
    subprocess.Popen([sys.executable, "-c", LINGERING], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
