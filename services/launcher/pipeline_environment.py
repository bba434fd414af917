"""The environment a pipeline runs in: what it needs, never the launcher's own settings.

The launcher's environment holds the database and broker URLs with their
passwords (and, under `make run`, the internal secret), and a pipeline parses
archives from anyone who may upload. So a pipeline does not inherit it: it gets
an environment built from an allow-list, by name,
- what most programs expect (BASICS);
- the reference pipeline's own settings (pipeline/settings.py, pipeline/archive.py);
- the names a site lists in UPLOADER_PIPELINE_ENVIRONMENT, e.g. what LORIS-MRI
  needs when the command does not source its environment file.
A listed name that is not set in the launcher's environment is simply absent.
"""

import os
import re
from collections.abc import Iterable, Mapping

BASICS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
PIPELINE_SETTINGS = (
    "UPLOADER_IDENTIFYING_TAGS",
    "UPLOADER_DCM2NIIX",
    "UPLOADER_LORIS_MRI_DATABASE_URL",
    "UPLOADER_ARCHIVE_MAX_MEMBERS",
    "UPLOADER_ARCHIVE_MAX_UNPACKED_BYTES",
    "UPLOADER_ARCHIVE_MAX_RATIO",
)
SITE_SETTING = "UPLOADER_PIPELINE_ENVIRONMENT"
_UPLOADER_PREFIX = "UPLOADER_"
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def pipeline_environment(site_names: Iterable[str] = (), environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables of environ a pipeline gets. Raises ValueError for a site name it must not get."""
    names = (*BASICS, *PIPELINE_SETTINGS, *checked_site_names(site_names))
    return {name: environ[name] for name in names if name in environ}


def checked_site_names(names: Iterable[str]) -> tuple[str, ...]:
    """The site's names, refused when one is not a variable name or is one of the uploader's own settings
    (the settings are read whatever the case of their names, so any case is refused)."""
    names = tuple(names)
    for name in names:
        if not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"{SITE_SETTING} lists {name!r}, which is not an environment variable name")
        if name.upper().startswith(_UPLOADER_PREFIX) and name not in PIPELINE_SETTINGS:
            raise ValueError(f"{SITE_SETTING} lists {name}, a setting of the uploader itself: a pipeline never "
                             "gets those (they include the database and broker passwords)")
    return names
