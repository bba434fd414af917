"""A pipeline that takes its time: it prints a few progress lines and reports
each as a step at 0% (the reference pipeline's own steps follow), one every
--delay seconds, then runs the reference pipeline with the arguments it was
given. The browser tests use it to watch a log grow and Browse's percentage
while a pipeline runs.

    python tests/support/slow_pipeline.py --steps 6 --delay 0.5 -- <reference pipeline arguments>
"""

import argparse
import json
import os
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("pipeline_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    for step in range(1, args.steps + 1):
        print(f"[info] Preparing, step {step} of {args.steps}", flush=True)
        print(f"[verbose] Details of step {step}", flush=True)
        # A name of its own per step: a line repeated in one run's log would look like a line logged twice.
        report = {"type": "step", "name": f"Preparing, step {step} of {args.steps}", "percent": 0}
        print(f"[report] {json.dumps(report)}", flush=True)
        time.sleep(args.delay)
    pipeline_args = [arg for arg in args.pipeline_args if arg != "--"]
    os.execv(sys.executable, [sys.executable, "-m", "pipeline", *pipeline_args])


if __name__ == "__main__":
    main()
