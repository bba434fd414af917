"""Text a pipeline printed, made safe to keep: any bytes become a readable
string that PostgreSQL's text type accepts.

Invalid UTF-8 is kept as \\xNN escapes rather than dropped or replaced by
U+FFFD, so a Latin-1 file name still says which file; a NUL, which PostgreSQL
refuses in text, is written \\x00 the same way.
"""


def readable(raw: bytes) -> str:
    return without_nul(raw.decode("utf-8", errors="backslashreplace"))


def without_nul(text: str) -> str:
    return text.replace("\x00", "\\x00") if "\x00" in text else text
