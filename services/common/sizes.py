"""Sizes and counts in words a user reads."""


def human_size(size: int) -> str:
    """645 bytes, 1.0 KiB, 4.0 MiB, 50.0 GiB: the largest unit, up to GiB, that keeps the number at or above 1."""
    if size < 1024:
        return f"{size} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"


def count_of(number: int, noun: str, plural: str | None = None) -> str:
    """'1 file', '3 files'; `plural` where adding an s is wrong ('2 series')."""
    return f"{number} {noun}" if number == 1 else f"{number} {plural or noun + 's'}"
