"""A pipeline that hangs for some scans: when the scan's file name contains
HANG, it prints a line, ignores SIGTERM and sleeps for ever; otherwise it runs
the reference pipeline with the arguments it was given.

    python tests/support/hanging_pipeline.py {file_name} -- <reference pipeline arguments>
"""

import os
import signal
import sys
import time


def main() -> None:
    file_name, pipeline_args = sys.argv[1], [arg for arg in sys.argv[2:] if arg != "--"]
    if "HANG" in file_name:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(f"[info] Hanging on {file_name}", flush=True)
        while True:
            time.sleep(60)
    os.execv(sys.executable, [sys.executable, "-m", "pipeline", *pipeline_args])


if __name__ == "__main__":
    main()
