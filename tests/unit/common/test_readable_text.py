"""Whatever bytes a pipeline prints, its log keeps a readable line that PostgreSQL accepts."""

from services.common.readable_text import readable, without_nul


def test_utf8_text_is_kept_as_it_is():
    assert readable("Série 3: IRM T1 ✓\n".encode()) == "Série 3: IRM T1 ✓\n"


def test_bytes_that_are_not_utf8_are_kept_as_escapes_instead_of_being_lost():
    assert readable(b"file caf\xe9.dcm") == "file caf\\xe9.dcm"


def test_a_nul_byte_is_written_as_an_escape_since_postgresql_text_refuses_it():
    assert readable(b"before\x00after") == "before\\x00after"
    assert without_nul("a\x00b\x00") == "a\\x00b\\x00"
    assert "\x00" not in readable(bytes(range(256)))
