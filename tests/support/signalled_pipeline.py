"""A pipeline killed by a signal for some scans: when the scan's file name contains KILLED-BY-<SIGNAL>
(KILLED-BY-SIGKILL, as the kernel's out-of-memory killer does; KILLED-BY-SIGSEGV, as a crash does...), it
prints a line and kills itself with that signal; otherwise it runs the reference pipeline with the
arguments it was given.

    python tests/support/signalled_pipeline.py {file_name} -- <reference pipeline arguments>
"""

import os
import re
import resource
import signal
import sys


def main() -> None:
    file_name, pipeline_args = sys.argv[1], [arg for arg in sys.argv[2:] if arg != "--"]
    if match := re.search(r"KILLED-BY-(SIG[A-Z]+)", file_name):
        sig = signal.Signals[match[1]]
        print(f"[info] Converting the series of {file_name}", flush=True)
        if sig != signal.SIGKILL:  # which has no handler to reset
            signal.signal(sig, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file of a test
        os.kill(os.getpid(), sig)
    os.execv(sys.executable, [sys.executable, "-m", "pipeline", *pipeline_args])


if __name__ == "__main__":
    main()
