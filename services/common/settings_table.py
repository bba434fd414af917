"""The configuration table (docs/configuration.md), generated from the settings models' fields:
each variable, its default, who reads it, and its description.

    python -m services.common.settings_table                                 prints the table
    python -m services.common.settings_table --write docs/configuration.md   replaces the one between the markers

It reads the reference pipeline's settings classes too (pipeline/), so that one table lists every variable.
"""

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from pipeline.archive import ArchiveLimits
from pipeline.settings import PipelineSettings
from services.common.replica import ReplicaSettings
from services.common.settings import (
    DemoUserSettings,
    GatewaySettings,
    LauncherSettings,
    LogstoreSettings,
    ScriptSettings,
    ValidatorSettings,
)
from services.common.sizes import count_of, human_size

BEGIN_MARKER = ("<!-- settings table: generated from the settings models by "
                "`python -m services.common.settings_table`; do not edit by hand -->")
END_MARKER = "<!-- end of settings table -->"

SERVICE_SETTINGS = {"gateway": GatewaySettings, "validator": ValidatorSettings, "launcher": LauncherSettings,
                    "logstore": LogstoreSettings}
EVERY_SERVICE = "every service"
# The settings no service class holds, and who reads them.
OTHER_SETTINGS = (
    (ReplicaSettings, EVERY_SERVICE),
    (PipelineSettings, "reference pipeline"),
    (ArchiveLimits, "reference pipeline"),
    (DemoUserSettings, "demo loader"),
    (ScriptSettings, "scripts or compose"),
)
# The table's groups, in order: rows are sorted by their first reader.
GROUPS = (EVERY_SERVICE, *SERVICE_SETTINGS, *dict.fromkeys(readers for _, readers in OTHER_SETTINGS))
ALL_SETTINGS_CLASSES = (*SERVICE_SETTINGS.values(), *(settings_class for settings_class, _ in OTHER_SETTINGS))


@dataclass
class Row:
    variable: str
    name: str  # the field's name
    info: FieldInfo
    readers: list[str] = field(default_factory=list)


def variable_name(settings_class: type[BaseSettings], name: str, info: FieldInfo) -> str:
    """The environment variable a field is read from: its alias (UPLOADER_GATEWAY_PORT), else prefix + name."""
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return settings_class.model_config.get("env_prefix", "") + name.upper()


def variables(settings_class: type[BaseSettings]) -> Iterator[tuple[str, str, FieldInfo]]:
    for name, info in settings_class.model_fields.items():
        yield variable_name(settings_class, name, info), name, info


def rows() -> list[Row]:
    """One row per variable, grouped by who reads it, in the classes' order within a group; a variable several
    services read is one row."""
    by_variable: dict[str, Row] = {}
    for service, settings_class in SERVICE_SETTINGS.items():
        for variable, name, info in variables(settings_class):
            by_variable.setdefault(variable, Row(variable, name, info)).readers.append(service)
    for row in by_variable.values():
        if len(row.readers) == len(SERVICE_SETTINGS):
            row.readers = [EVERY_SERVICE]
    for settings_class, readers in OTHER_SETTINGS:
        for variable, name, info in variables(settings_class):
            by_variable[variable] = Row(variable, name, info, [readers])
    return sorted(by_variable.values(), key=lambda row: GROUPS.index(row.readers[0]))


def in_words(name: str, value: float) -> str | None:
    """What a number means where it is not plain: 53687091200 bytes is 50 GiB, 168 hours 7 days."""
    if name.endswith("_bytes") and value >= 1024:
        return human_size(int(value)).replace(".0 ", " ")
    if name.endswith("_hours") and value >= 48 and value % 24 == 0:
        return count_of(int(value // 24), "day")
    if name.endswith("_minutes") and value >= 120 and value % 60 == 0:
        return count_of(int(value // 60), "hour")
    return None


def shown_default(name: str, info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        value = ", ".join(value)
    if value == "":
        return "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    words = in_words(name, value) if isinstance(value, int | float) else None
    return f"`{value}` ({words})" if words else f"`{value}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    lines = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for row in rows():
        lines.append(f"| `{row.variable}` | {cell(shown_default(row.name, row.info))} | {', '.join(row.readers)} "
                     f"| {cell(row.info.description or '')} |")
    return "\n".join(lines) + "\n"


def with_table(document: str, table: str) -> str:
    """The document with the table between the markers replaced; ValueError when they are missing."""
    head, begin, rest = document.partition(BEGIN_MARKER + "\n")
    _, end, tail = rest.partition(END_MARKER + "\n")
    if not begin or not end:
        raise ValueError(f"the markers are missing: put the lines\n{BEGIN_MARKER}\n{END_MARKER}\nwhere the table goes")
    return head + begin + "\n" + table + "\n" + end + tail  # blank lines: Markdown ends the table before the marker


def table_in(document: str) -> str:
    """The table between the markers, as written."""
    return document.partition(BEGIN_MARKER + "\n")[2].partition(END_MARKER + "\n")[0].strip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, metavar="FILE", help="replace the table between the markers of FILE")
    arguments = parser.parse_args(argv)
    if arguments.write is None:
        sys.stdout.write(settings_table())
        return
    try:
        arguments.write.write_text(with_table(arguments.write.read_text(), settings_table()))
    except (OSError, ValueError) as error:
        sys.exit(f"{arguments.write}: {error}")


if __name__ == "__main__":
    main()
