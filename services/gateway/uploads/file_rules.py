"""Upload rules about the file itself that need no database: a safe name, and
a content that is what its name says (gzip or zip, from its leading bytes)."""

import re

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
SNIFF_BYTES = 4


def is_safe_name(file_name: str) -> bool:
    return bool(_SAFE_NAME.fullmatch(file_name)) and ".." not in file_name


def content_matches_ending(first_bytes: bytes, ending: str) -> bool:
    if ending == ".zip":
        return first_bytes.startswith(_ZIP_MAGICS)
    return first_bytes.startswith(_GZIP_MAGIC)


class LeadingBytes:
    """Holds back the first SNIFF_BYTES of a stream, however small its pieces,
    until the content type can be decided; then lets everything through."""

    def __init__(self) -> None:
        self._held = b""
        self.decided = False

    def take(self, chunk: bytes | memoryview) -> bytes | None:
        """Add a piece; returns the held bytes once there are enough (the caller checks and writes them)."""
        self._held += bytes(chunk)
        if len(self._held) < SNIFF_BYTES:
            return None
        return self.release()

    def release(self) -> bytes:
        held, self._held = self._held, b""
        self.decided = True
        return held
