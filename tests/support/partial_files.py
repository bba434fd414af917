"""The scan store's `.part` files: the gateway opens one for an upload once the upload passed every check made
before its file, just before it reads the file part. A new one is the sign that the gateway waits for the file."""

from pathlib import Path

from tests.integration.helpers import eventually


def partial_files(incoming: Path) -> set[Path]:
    return set((incoming / ".partial").glob("*.part"))


async def new_partial_file(incoming: Path, before: set[Path], timeout: float = 10) -> Path:
    """Until a `.part` file that was not there `before` appears; returns it."""

    async def new_one() -> Path | None:
        return next(iter(partial_files(incoming) - before), None)

    return await eventually(new_one, timeout, "the gateway opening the upload's file")
