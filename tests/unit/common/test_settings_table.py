"""docs/configuration.md's table is the one the settings models make, every setting says what it means,
and the variables only the scripts and compose read are the ones they use (services.common.settings_table)."""

import ast
import re
from pathlib import Path

import pytest

from services.common.settings import LauncherSettings, ScriptSettings, ServiceSettings
from services.common.settings_table import (
    ALL_SETTINGS_CLASSES,
    BEGIN_MARKER,
    END_MARKER,
    main,
    rows,
    settings_table,
    table_in,
    variables,
    with_table,
)

ROOT = Path(__file__).resolve().parents[3]
CONFIGURATION = ROOT / "docs" / "configuration.md"
WRITE_COMMAND = "python -m services.common.settings_table --write docs/configuration.md"
# Where variables are set or read outside Python.
OUTSIDE_PYTHON = [*(ROOT / "scripts").glob("*.sh"), *(ROOT / "scripts").glob("*.py"), ROOT / "docker-compose.yml",
                  ROOT / "Procfile", ROOT / "Makefile", ROOT / "deploy" / "Dockerfile",
                  *(ROOT / "deploy" / "kubernetes").rglob("*.yaml")]


def row(variable: str) -> str:
    [line] = [line for line in settings_table().splitlines() if line.startswith(f"| `{variable}` |")]
    return line


def test_the_configuration_page_shows_the_table_the_settings_make():
    assert table_in(CONFIGURATION.read_text()) == settings_table(), (
        f"docs/configuration.md's settings table is not the settings models' one: run `{WRITE_COMMAND}`")


def test_a_changed_default_makes_the_page_out_of_date(monkeypatch):
    monkeypatch.setattr(LauncherSettings.model_fields["max_concurrent_runs"], "default", 3)

    assert table_in(CONFIGURATION.read_text()) != settings_table()


@pytest.mark.parametrize("settings_class", ALL_SETTINGS_CLASSES, ids=lambda settings_class: settings_class.__name__)
def test_every_setting_says_what_it_means(settings_class):
    assert [variable for variable, _, info in variables(settings_class) if not (info.description or "").strip()] == []


def test_every_settings_class_of_the_project_is_in_the_table():
    """A settings class of its own (class X(BaseSettings)) anywhere in services/ or pipeline/ is listed."""
    declared = {node.name for folder in ("services", "pipeline") for path in (ROOT / folder).rglob("*.py")
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ClassDef) and any(getattr(base, "id", None) == "BaseSettings" for base in node.bases)}
    listed = {settings_class.__name__ for settings_class in ALL_SETTINGS_CLASSES} | {ServiceSettings.__name__}
    assert declared - listed == set()


def test_defaults_are_shown_readably_and_aliases_by_their_variable():
    assert "| `53687091200` (50 GiB) |" in row("UPLOADER_MAX_UPLOAD_BYTES")
    assert "| `168` (7 days) |" in row("UPLOADER_ATTEMPT_FILE_RETENTION_HOURS")
    assert "| `8080` | gateway |" in row("UPLOADER_GATEWAY_PORT")
    assert "| unset |" in row("UPLOADER_AUTO_LAUNCH")  # not given: standalone true, LORIS mode LORIS's setting
    assert "| required |" in row("UPLOADER_DEMO_TOKEN")
    assert "| every service |" in row("UPLOADER_DATABASE_URL")
    assert "`UPLOADER_PORT`" not in settings_table()  # every service reads its own port variable


def test_each_variable_has_one_row():
    names = [row.variable for row in rows()]
    assert len(names) == len(set(names))


def test_every_variable_the_scripts_compose_and_manifests_name_is_in_the_table():
    named = {name for path in OUTSIDE_PYTHON
             for name in re.findall(r"\b(?:UPLOADER|GRAFANA)_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())}
    assert named - {row.variable for row in rows()} == set()


@pytest.mark.parametrize("variable", [variable for variable, _, _ in variables(ScriptSettings)])
def test_the_scripts_or_compose_read_each_script_setting(variable):
    assert any(re.search(rf"\b{variable}\b", path.read_text()) for path in OUTSIDE_PYTHON), (
        f"nothing outside Python reads {variable}")


def test_where_a_script_or_compose_falls_back_on_a_default_it_is_the_settings_own():
    """`${UPLOADER_GATEWAY_PORT:-8080}` must say the model's default; a value of its own (`$(...)`) may differ."""
    defaults = {row.variable: row.info.default for row in rows() if not row.info.is_required()}
    fallbacks = {(variable, value) for path in OUTSIDE_PYTHON
                 for variable, value in re.findall(r"\$\{((?:UPLOADER|GRAFANA)_\w+):-([^}$]+)\}", path.read_text())}
    assert fallbacks
    assert {(variable, value) for variable, value in fallbacks if value != str(defaults[variable])} == set()


def test_writing_replaces_only_the_table_between_the_markers(tmp_path):
    page = tmp_path / "configuration.md"
    page.write_text(f"# Title\n\nbefore\n{BEGIN_MARKER}\n| old | table |\n{END_MARKER}\nafter\n")

    main(["--write", str(page)])

    text = page.read_text()
    assert text.startswith(f"# Title\n\nbefore\n{BEGIN_MARKER}\n") and text.endswith(f"\n{END_MARKER}\nafter\n")
    assert table_in(text) == settings_table()
    assert "| old | table |" not in text


def test_writing_to_a_page_without_the_markers_fails_and_says_what_is_missing(tmp_path):
    page = tmp_path / "configuration.md"
    page.write_text("# Title\n")

    with pytest.raises(SystemExit, match="the markers are missing"):
        main(["--write", str(page)])
    assert page.read_text() == "# Title\n"


def test_a_page_without_the_end_marker_is_refused():
    with pytest.raises(ValueError, match="markers are missing"):
        with_table(f"{BEGIN_MARKER}\n| a |\n", "| b |\n")
