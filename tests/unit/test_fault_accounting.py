"""The fault tests' checks find what they look for: overlapping runs, a run that never ended, a log line
saved twice or out of order, a successful run missing lines, two live runs of one attempt in the ledger."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.support.fault_accounting import UploadFate, _check, overlapping_runs

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def run(run_id: int, start: float | None, end: float | None, outcome="succeeded", attempt=1, pid=100) -> dict:
    return {"run_id": run_id, "attempt": attempt, "pid": pid, "launcher": "launcher:1:x", "outcome": outcome,
            "started_at": None if start is None else at(start), "ended_at": None if end is None else at(end)}


def line(message: str, line_id: int) -> dict:
    return {"line_id": line_id, "message": message, "is_error": False}


def numbered(group: int, *numbers: int, of: int = 3) -> list[str]:
    """Lines of the pipeline pid group + 1, in the group of the run whose pid is `group`."""
    return [f"line {n} of {of} from pid {group + 1} in group {group}" for n in numbers]


def fate(runs: list[dict], messages: list[str], progress="Success") -> UploadFate:
    return UploadFate(7, "MTL0001_300001_V1_x.tgz", summary={"progress": progress, "attempt": 1, "exit_code": 0},
                      runs=runs, lines=[line(m, i) for i, m in enumerate(messages, 1)])


def test_a_rerun_after_the_first_run_ended_is_no_overlap_but_one_that_started_before_is():
    assert overlapping_runs([run(1, 0, 5, "abandoned"), run(2, 6, 9)], "started_at", "ended_at") == []
    problems = overlapping_runs([run(1, 0, 5, "abandoned"), run(2, 4, 9)], "started_at", "ended_at")
    assert problems == ["1 and 2 of attempt 1 overlap: 2 started 1.00 s before 1 ended"]
    assert overlapping_runs([run(1, 0, 5), run(2, 1, 2, attempt=2)], "started_at", "ended_at") == []


def test_a_run_that_never_ended_is_a_problem():
    assert overlapping_runs([run(1, 0, None)], "started_at", "ended_at") == ["1 (attempt 1) never ended"]


def test_a_clean_rerun_passes(tmp_path: Path):
    checked = fate([run(1, 0, 2, "abandoned", pid=100), run(2, 5, 7, pid=200)],
                   numbered(100, 1, 2) + ["Pipeline started."] + numbered(200, 1, 2, 3))
    _check(checked, tmp_path, lines_per_run=3)
    assert checked.problems == []


def test_lines_saved_twice_out_of_order_or_missing_are_found(tmp_path: Path):
    twice = fate([run(1, 0, 2)], numbered(100, 1, 2, 2, 3))
    shuffled = fate([run(1, 0, 2)], numbered(100, 1, 3, 2))
    short = fate([run(1, 0, 2)], numbered(100, 1, 2))
    for checked in (twice, shuffled, short):
        _check(checked, tmp_path, lines_per_run=3)
    assert twice.problems == ["lines [2] of pid 101 saved more than once",
                              "the run that succeeded (pid 100) has numbered lines [[1, 2, 2, 3]] (pids [101]), "
                              "not one pipeline's 1..3"]
    assert shuffled.problems == ["lines of pid 101 out of order or with a gap: [1, 3, 2]",
                                 "the run that succeeded (pid 100) has numbered lines [[1, 3, 2]] (pids [101]), "
                                 "not one pipeline's 1..3"]
    assert short.problems == ["the run that succeeded (pid 100) has numbered lines [[1, 2]] (pids [101]), "
                              "not one pipeline's 1..3"]


def test_a_failure_and_two_live_runs_in_the_ledger_are_found(tmp_path: Path):
    (tmp_path / "7-1.overlap-200").write_text("pid 200 started at 5.000 while another run of 7-1 was alive\n")
    checked = fate([run(1, 0, 2, "abandoned")], numbered(100, 1), progress="Failure")
    _check(checked, tmp_path, lines_per_run=3)
    assert checked.problems == [
        "ended in Failure (exit code 0), though its archive is valid",
        "two runs of one attempt alive at once: pid 200 started at 5.000 while another run of 7-1 was alive",
    ]
