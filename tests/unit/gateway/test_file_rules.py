"""Upload rules about the file itself (services.gateway.uploads.file_rules) and archive
endings (services.common.file_names)."""

import gzip
import io
import zipfile

import pytest

from services.common.file_names import ending_of, stem_of
from services.gateway.uploads.file_rules import LeadingBytes, content_matches_ending, is_safe_name


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan.dcm", b"DICM")
    return buffer.getvalue()


def empty_zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    return buffer.getvalue()


GZIP = gzip.compress(b"a tar archive")
ZIP = zip_bytes()


@pytest.mark.parametrize(
    ("file_name", "ending"),
    [
        ("MTL0001_300001_V1.tar.gz", ".tar.gz"),
        ("MTL0001_300001_V1.tgz", ".tgz"),
        ("MTL0001_300001_V1.zip", ".zip"),
        ("MTL0001_300001_V1.TAR.GZ", ".tar.gz"),
        ("MTL0001_300001_V1.TgZ", ".tgz"),
        ("MTL0001_300001_V1.ZIP", ".zip"),
    ],
)
def test_an_archive_ending_is_recognised_whatever_its_case(file_name, ending):
    assert ending_of(file_name) == ending


@pytest.mark.parametrize(
    "file_name",
    ["scan.tar", "scan.gz", "scan.tar.bz2", "scan.rar", "scan.zip.txt", "scan", "", "scan.tgz.", "scantgz"],
)
def test_a_file_that_is_not_a_tgz_tar_gz_or_zip_has_no_accepted_ending(file_name):
    assert ending_of(file_name) is None


@pytest.mark.parametrize(
    "file_name",
    ["MTL0001_300001_V1.tgz", "MTL0001_300001_V1_t1.tar.gz", "phantom-2024.zip", "a", "0.tgz"],
)
def test_a_name_of_letters_digits_dots_underscores_and_dashes_is_safe(file_name):
    assert is_safe_name(file_name)


@pytest.mark.parametrize(
    "file_name",
    [
        "../x.tgz",
        "a/b.tgz",
        "a\\b.tgz",
        "my scan.tgz",
        ".hidden.tgz",
        "-x.tgz",
        "_x.tgz",
        "a..b.tgz",
        "",
        "scan\u00e9.tgz",
        "scan;rm.tgz",
        "x" * 256,
    ],
)
def test_a_name_that_could_escape_the_folder_or_confuse_a_shell_is_unsafe(file_name):
    assert not is_safe_name(file_name)


def test_a_name_of_255_characters_is_still_safe():
    assert is_safe_name("x" * 251 + ".tgz")


@pytest.mark.parametrize("file_name", ["MTL0001_300001_V1.tgz\n", "MTL0001_300001_V1.tgz\nevil"])
def test_a_name_with_a_newline_is_unsafe(file_name):
    # The rule allows only letters, digits, '.', '_' and '-'.
    assert not is_safe_name(file_name)


@pytest.mark.parametrize(
    ("file_name", "stem"),
    [
        ("MTL0001_300001_V1.tgz", "MTL0001_300001_V1"),
        ("MTL0001_300001_V1_t1.TAR.GZ", "MTL0001_300001_V1_t1"),
        ("MTL0001_300001_V1.tar", "MTL0001_300001_V1"),
        ("MTL0001_300001_V1", "MTL0001_300001_V1"),
    ],
)
def test_the_stem_of_a_name_is_the_name_without_its_archive_ending(file_name, stem):
    assert stem_of(file_name) == stem


@pytest.mark.parametrize(
    ("first_bytes", "ending"),
    [
        (GZIP, ".tgz"),
        (GZIP, ".tar.gz"),
        (GZIP[:2], ".tgz"),
        (ZIP, ".zip"),
        (empty_zip_bytes(), ".zip"),
    ],
    ids=["gzip-tgz", "gzip-tar.gz", "gzip-magic-only", "zip", "empty-zip"],
)
def test_content_that_starts_with_the_magic_bytes_of_its_ending_matches(first_bytes, ending):
    assert content_matches_ending(first_bytes, ending)


@pytest.mark.parametrize(
    ("first_bytes", "ending"),
    [
        (ZIP, ".tgz"),
        (ZIP, ".tar.gz"),
        (GZIP, ".zip"),
        (b"plain text", ".tgz"),
        (b"plain text", ".zip"),
        (b"\x1f", ".tgz"),
        (b"PK", ".zip"),
        (b"", ".zip"),
        (b"", ".tgz"),
    ],
    ids=["zip-as-tgz", "zip-as-tar.gz", "gzip-as-zip", "text-as-tgz", "text-as-zip",
         "half-gzip-magic", "half-zip-magic", "empty-zip", "empty-tgz"],
)
def test_content_that_does_not_start_with_the_magic_bytes_of_its_ending_does_not_match(first_bytes, ending):
    assert not content_matches_ending(first_bytes, ending)


def feed(pieces: list[bytes]) -> tuple[bytes | None, list[bytes | None]]:
    leading = LeadingBytes()
    answers = [leading.take(piece) for piece in pieces]
    return (None if leading.decided else leading.release()), answers


def test_leading_bytes_sent_one_at_a_time_are_held_until_four_are_there():
    leftover, answers = feed([b"P", b"K", b"\x03", b"\x04", b"rest"])

    assert answers[:3] == [None, None, None]
    assert answers[3] == b"PK\x03\x04"
    assert leftover is None


def test_a_first_piece_of_four_bytes_or_more_is_given_back_whole_at_once():
    _, answers = feed([ZIP])

    assert answers == [ZIP]


def test_a_stream_shorter_than_four_bytes_gives_back_what_it_held_at_the_end():
    leftover, answers = feed([b"\x1f", b"\x8b"])

    assert answers == [None, None]
    assert leftover == b"\x1f\x8b" and content_matches_ending(leftover, ".tgz")
