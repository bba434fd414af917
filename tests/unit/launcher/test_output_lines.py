"""How a line of pipeline output becomes a log line (services.launcher.output_lines)."""

import pytest

from services.launcher.output_lines import OutputLine, classify


def test_an_info_line_goes_to_the_summary_log_without_its_tag():
    assert classify("[info] Extracting the archive\n", from_stderr=False) == OutputLine(
        "Extracting the archive", is_error=False, is_verbose=False
    )


def test_a_verbose_line_goes_to_the_detailed_log_only_without_its_tag():
    assert classify("[verbose] 12 DICOM files found\n", from_stderr=False) == OutputLine(
        "12 DICOM files found", is_error=False, is_verbose=True
    )


def test_an_error_line_is_an_error_without_its_tag():
    assert classify("[error] PatientName mismatch\n", from_stderr=False) == OutputLine(
        "PatientName mismatch", is_error=True, is_verbose=False
    )


def test_untagged_stdout_is_detail():
    assert classify("some tool chatter\n", from_stderr=False) == OutputLine(
        "some tool chatter", is_error=False, is_verbose=True
    )


def test_anything_on_stderr_is_an_error_and_keeps_its_text_even_with_a_tag():
    assert classify("Traceback (most recent call last):\n", from_stderr=True) == OutputLine(
        "Traceback (most recent call last):", is_error=True, is_verbose=False, from_stderr=True
    )
    assert classify("[info] hello\n", from_stderr=True) == OutputLine("[info] hello", is_error=True, is_verbose=False,
                                                                      from_stderr=True)


@pytest.mark.parametrize("raw", ["[info] done\r\n", "[info] done\n", "[info] done\r", "[info] done"])
def test_the_line_ending_is_stripped_whatever_it_is(raw):
    assert classify(raw, from_stderr=False).message == "done"


def test_leading_and_inner_spaces_of_a_message_are_kept():
    assert classify("[info]   indented  text  \n", from_stderr=False).message == "  indented  text  "


@pytest.mark.parametrize("raw", ["[info]no space", "[INFO] shouted", " [info] indented", "[warning] x"])
def test_a_tag_counts_only_when_written_exactly_at_the_start_with_its_space(raw):
    assert classify(raw + "\n", from_stderr=False) == OutputLine(raw, is_error=False, is_verbose=True)


def test_an_empty_line_is_an_empty_detail_line():
    assert classify("\n", from_stderr=False) == OutputLine("", is_error=False, is_verbose=True)
