"""Waits at a gate, then runs a command in its place (exec: the same pid, so the launcher's process group and
kill apply to it): DIR/<run-key>.at-gate is written, and the command runs once DIR/open exists. A test sees
the run started and waiting, checks what it wants, then opens the gate.

    python -m tests.support.gate_then --gate DIR --run-key {upload_id} -- COMMAND ARGS...
"""

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gate", type=Path, required=True)
    parser.add_argument("--run-key", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = [arg for arg in args.command if arg != "--"] if args.command[:1] == ["--"] else args.command
    (args.gate / f"{args.run_key}.at-gate").write_text(f"{os.getpid()}\n")
    while not (args.gate / "open").exists():
        time.sleep(0.05)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
