"""The layout rules: services share only services/common, and the reference
pipeline takes nothing from services/ but the exit-code table."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "validator", "launcher", "logstore")


def imported_modules(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
    return names


def service_packages_imported(folder: Path) -> set[str]:
    """Which services.<name> packages the code in a folder imports."""
    return {".".join(name.split(".")[:2]) for name in imported_modules(folder) if name.startswith("services.")}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service):
    assert service_packages_imported(ROOT / "services" / service) <= {"services.common", f"services.{service}"}


def test_the_shared_package_imports_no_service():
    assert service_packages_imported(ROOT / "services" / "common") == {"services.common"}


def test_the_reference_pipeline_takes_only_the_exit_codes_and_sizes_in_words_from_services():
    assert {name for name in imported_modules(ROOT / "pipeline") if name.startswith("services")} == {
        "services.common.exit_codes", "services.common.sizes"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_as_a_module_with_a_short_main(service):
    main = ROOT / "services" / service / "__main__.py"
    assert main.is_file()
    assert len(main.read_text().splitlines()) < 60


def test_no_service_waits_with_asyncio_wait_for():
    """On Python 3.11, asyncio.wait_for loses a cancellation that arrives as the awaited thing completes
    (CPython gh-86296): a loop waiting that way (the outbox relay's, once) then never stops, and neither does
    the service's shutdown. `async with asyncio.timeout(...)` has no such flaw."""
    calls = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for folder in ("services", "pipeline") for path in (ROOT / folder).rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Attribute) and node.attr == "wait_for"
             and isinstance(node.value, ast.Name) and node.value.id == "asyncio"]
    assert calls == []
