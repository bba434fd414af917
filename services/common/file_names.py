"""The archive endings LORIS accepts, and how a file name splits into its stem and ending."""

ALLOWED_ENDINGS = (".tar.gz", ".tgz", ".zip")
ALLOWED_ENDINGS_TEXT = ".tgz, .tar.gz or .zip"


def ending_of(file_name: str) -> str | None:
    """The accepted archive ending of a name (lower case), or None."""
    lowered = file_name.lower()
    return next((ending for ending in ALLOWED_ENDINGS if lowered.endswith(ending)), None)


def stem_of(file_name: str) -> str:
    """The name without its archive ending: an accepted one, else everything from the first dot."""
    ending = ending_of(file_name)
    if ending is not None:
        return file_name[: -len(ending)]
    return file_name.split(".", 1)[0]
