"""A pipeline that prints a lot, and some of it badly: --lines numbered lines
("line 000001" ...), among them one with a NUL byte, one that is not UTF-8,
one longer than the launcher reads whole (--long-bytes) and a few on stderr;
then it exits 0. The log tests and bench/log_throughput.py run it.

    python tests/support/noisy_pipeline.py --lines 100000 [--long-bytes 2097152] [--clean]
"""

import argparse
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--long-bytes", type=int, default=0, help="one line this long, after the first")
    parser.add_argument("--clean", action="store_true", help="numbered lines only")
    args, _pipeline_args = parser.parse_known_args()
    out = sys.stdout.buffer
    out.write(b"[info] printing %d lines\n" % args.lines)
    if not args.clean:
        out.write(b"[verbose] a NUL byte: before\x00after\n")
        out.write(b"[verbose] not UTF-8: caf\xe9.dcm\n")
        if args.long_bytes:
            out.write(b"[verbose] " + b"L" * args.long_bytes + b"\n")
        sys.stderr.write("a warning on stderr\n")
    for number in range(1, args.lines + 1):
        out.write(b"line %06d\n" % number)
    out.write(b"[info] done\n")
    out.flush()


if __name__ == "__main__":
    main()
