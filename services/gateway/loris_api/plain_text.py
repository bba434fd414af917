"""Whether a value taken from a request can be stored and sent on: PostgreSQL
refuses NUL, and a JSON escape such as "\\ud800" decodes to a lone surrogate
that no database or JSON encoder takes."""


def is_plain_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value
