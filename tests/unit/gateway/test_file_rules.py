"""Upload rules that need no database (services.gateway.file_rules)."""

import gzip
import io
import zipfile

import pytest

from services.common.api_models import UploadForm
from services.gateway.file_rules import (
    content_matches_ending,
    ending_of,
    follows_name_rule,
    is_safe_name,
    missing_fields,
)

FORM = UploadForm(candid="300001", pscid="MTL0001", visit_label="V1")


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


def test_a_complete_form_misses_no_field():
    assert missing_fields(FORM) == []


def test_an_empty_form_misses_candid_pscid_and_visit_label_in_that_order():
    assert missing_fields(UploadForm()) == ["candid", "pscid", "visit_label"]


def test_a_form_without_a_visit_label_misses_only_the_visit_label():
    assert missing_fields(UploadForm(candid="300001", pscid="MTL0001")) == ["visit_label"]


def test_a_phantom_form_needs_no_candidate_fields():
    assert missing_fields(UploadForm(is_phantom=True)) == []


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
    "file_name",
    [
        "MTL0001_300001_V1.tgz",
        "MTL0001_300001_V1.tar.gz",
        "MTL0001_300001_V1.zip",
        "MTL0001_300001_V1.TGZ",
        "MTL0001_300001_V1_t1.zip",
        "MTL0001_300001_V1_t1_run-2.tgz",
    ],
)
def test_a_name_made_of_pscid_candid_visit_and_an_optional_suffix_follows_the_rule(file_name):
    assert follows_name_rule(file_name, FORM)


@pytest.mark.parametrize(
    "file_name",
    [
        "MTL0001_300001_V1_.tgz",
        "MTL0001_300001_V10.tgz",
        "MTL0001_300001_V1-t1.tgz",
        "MTL0002_300001_V1.tgz",
        "MTL0001_300002_V1.tgz",
        "MTL0001_300001_V2.tgz",
        "300001_MTL0001_V1.tgz",
        "MTL0001_300001.tgz",
        "xMTL0001_300001_V1.tgz",
        "MTL0001_300001_V1.tar",
        "MTL0001_300001_V1",
    ],
)
def test_a_name_that_does_not_match_the_form_breaks_the_rule(file_name):
    assert not follows_name_rule(file_name, FORM)


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
