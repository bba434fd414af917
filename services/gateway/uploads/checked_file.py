"""The bytes of an upload's file on their way to the scan store: typed by its
leading bytes (however small the pieces they arrive in) and counted against
the maximum size."""

from services.common.file_names import ending_of
from services.common.messages import RuleFailure
from services.common.scan_store import PendingScan
from services.gateway.uploads.file_rules import LeadingBytes, content_matches_ending
from services.gateway.uploads.upload_rules import UploadRefused, too_large


class CheckedFile:
    def __init__(self, pending: PendingScan, file_name: str, max_bytes: int) -> None:
        self._pending = pending
        self._file_name = file_name
        self._max_bytes = max_bytes
        self._leading = LeadingBytes()

    def write(self, chunk: bytes | memoryview) -> None:
        if self._leading.decided:
            self._store(chunk)
        elif (first := self._leading.take(chunk)) is not None:
            self._check_type(first)
            self._store(first)

    def finish(self) -> None:
        """After the last byte: a file shorter than the sniffed bytes is typed now; an empty one is refused."""
        if self._leading.decided:
            return
        first = self._leading.release()
        if not first:
            raise refused("empty_file", f"File {self._file_name} is empty.")
        self._check_type(first)
        self._store(first)

    def _check_type(self, first_bytes: bytes) -> None:
        check_content_type(self._file_name, first_bytes)

    def _store(self, data: bytes | memoryview) -> None:
        if self._pending.size + len(data) > self._max_bytes:
            raise UploadRefused([too_large(self._max_bytes)])
        self._pending.write(data)


def check_content_type(file_name: str, first_bytes: bytes) -> None:
    """Refuses a file whose leading bytes are not the archive its name says."""
    ending = ending_of(file_name)
    if not content_matches_ending(first_bytes, ending):
        kind = "a zip" if ending == ".zip" else "a gzip-compressed"
        raise refused("content_type_mismatch", f"The content of {file_name} is not {kind} archive, as its name says.")


def refused(code: str, message: str) -> UploadRefused:
    return UploadRefused([RuleFailure(field="file", code=code, message=message)])
