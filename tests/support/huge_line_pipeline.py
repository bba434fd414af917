"""A pipeline whose lines are larger than a broker may take: one line of
control characters on stdout (JSON makes each six bytes) and one huge line on
stderr, then a last line, and it fails (exit 1).
tests/e2e/test_broker_message_limit.py runs it.

    python tests/support/huge_line_pipeline.py --control-bytes 1048576 --stderr-bytes 8388608
"""

import argparse
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--control-bytes", type=int, required=True)
    parser.add_argument("--stderr-bytes", type=int, required=True)
    args, _pipeline_args = parser.parse_known_args()
    out = sys.stdout.buffer
    out.write(b"[info] starting\n")
    out.write(b"\x07" * args.control_bytes + b"\n")
    out.flush()
    sys.stderr.buffer.write(b"E" * args.stderr_bytes + b"\n")
    sys.stderr.flush()
    out.write(b"[error] giving up after the huge lines\n")
    out.flush()
    sys.exit(1)


if __name__ == "__main__":
    main()
