"""What the pipeline tells the launcher: one tagged line on stdout at a time.

- `[info] ` a sentence for the summary log, `[verbose] ` one for the detailed
  log only, `[error] ` one saying why the run failed. These lines tell the
  story on their own.
- `[report] ` one JSON object with a "type": a step and its percent, the
  DICOM archive summary ("tarchive"), the image counts, one file's outcome,
  or the run's summary sentence. The launcher stores them; they are extra.

In LORIS site mode (pipeline/loris_site.py) the sentences go to LORIS's
notification_spool instead, through a Lines of its own.
"""

import json
from dataclasses import dataclass

# The outcomes of a file (LORIS's words where it has them).
INSERTED = "inserted"  # its series became an image that was kept
NOT_CONVERTED = "not converted"
REJECTED = "rejected"  # it failed a check
NOT_DICOM = "not DICOM"
NOT_PROCESSED = "not processed"

STEP_EVERY_PERCENT = 3  # within a step, a new step line once the percent rose this much


class Lines:
    """Where the run's lines go: by default each to stdout, where the launcher reads it."""

    def message(self, tag: str, text: str) -> None:
        print(f"[{tag}] {text}", flush=True)

    def report(self, line: str) -> None:
        print(line, flush=True)


_lines = Lines()


def send_lines_to(lines: Lines) -> None:
    global _lines
    _lines = lines


def info(text: str) -> None:
    _say("info", text)


def verbose(text: str) -> None:
    _say("verbose", text)


def error(text: str) -> None:
    _say("error", text)


def _say(tag: str, text: str) -> None:
    # One message per line: a newline inside a file name or an error must not
    # start an untagged line.
    _lines.message(tag, " ".join(text.splitlines()))


def report(kind: str, **fields) -> None:
    # json.dumps escapes newlines in strings, so the object stays on one line.
    _lines.report(f"[report] {json.dumps({'type': kind, **fields}, ensure_ascii=False)}")


class Steps:
    """Step lines whose percent never goes down."""

    def __init__(self) -> None:
        self.name = ""
        self.percent = 0
        self._reported = False

    def start(self, name: str, percent: int) -> None:
        self._report(name, percent)

    def progress(self, name: str, low: int, high: int, done: int, total: int) -> None:
        """`done` of `total` through a step that runs from `low` to `high` percent; reported every few percent."""
        percent = low + (high - low) * min(done, total) // max(total, 1)
        if name != self.name or percent >= self.percent + STEP_EVERY_PERCENT or (percent == high > self.percent):
            self._report(name, percent)

    def _report(self, name: str, percent: int) -> None:
        percent = max(percent, self.percent) if self._reported else percent
        self.name, self.percent, self._reported = name, percent, True
        report("step", name=name, percent=percent)


@dataclass
class _Outcome:
    series: str | None
    outcome: str | None = None
    reason: str | None = None


class FileOutcomes:
    """Every file of the archive and what became of it; reported once, at the end of the run."""

    def __init__(self) -> None:
        self._files: dict[str, _Outcome] = {}

    def add(self, path: str, series: str | None = None) -> None:
        self._files.setdefault(path, _Outcome(series))

    def set(self, path: str, outcome: str, reason: str | None = None) -> None:
        entry = self._files.setdefault(path, _Outcome(None))
        entry.outcome, entry.reason = outcome, reason

    def report_all(self, otherwise: str, reason: str | None) -> None:
        """One file line each, in path order; a file without an outcome yet gets `otherwise`."""
        for path in sorted(self._files):
            entry = self._files[path]
            outcome = entry.outcome or otherwise
            report("file", file=path, series=entry.series, outcome=outcome,
                   reason=entry.reason if entry.outcome else reason)
