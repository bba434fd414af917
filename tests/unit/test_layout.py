"""The layout rules: services share only services/common, and the reference
pipeline takes nothing from services/ but the exit-code table, sizes in words and
the LORIS database URL's parts; neither imports
the LORIS stand-in; no two modules are named alike for different things; the
gateway's operations never import its HTTP floor."""

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


def test_the_reference_pipeline_takes_only_the_exit_codes_sizes_in_words_and_loris_url_from_services():
    assert {name for name in imported_modules(ROOT / "pipeline") if name.startswith("services")} == {
        "services.common.exit_codes", "services.common.sizes", "services.common.loris_url"}


@pytest.mark.parametrize("folder", ["services", "pipeline"])
def test_nothing_of_the_uploader_imports_the_loris_stand_in(folder):
    """loris_standin/ stands in for a LORIS site (its MariaDB tables and demo data), as pipeline/ for LORIS-MRI:
    the services reach a LORIS database only through its URL, whichever site it is."""
    assert {name for name in imported_modules(ROOT / folder) if name.split(".")[0] == "loris_standin"} == set()


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


# Names two modules may share because they are the same kind of thing.
SAME_KIND_NAMES = {
    "routes",  # a route table: the gateway's /api/v1 one, and its LORIS API one (loris_api/routes.py)
    "settings",  # settings read from UPLOADER_* variables: the services' (common) and the reference pipeline's
    "schema",  # the name of a service's PostgreSQL schema, one a service
}


def test_no_two_modules_share_a_name_for_different_things():
    paths_by_name = {}
    for folder in ("services", "pipeline", "loris_standin"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.stem not in {"__init__", "__main__", *SAME_KIND_NAMES}:
                paths_by_name.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in paths_by_name.items() if len(paths) > 1} == {}


# The gateway's floors: the HTTP floor (route tables, the LORIS API, the web page, the OpenAPI document, the
# entry point) calls the operations, grouped by purpose in these subpackages, which never call it back; both
# may use the ground (the gateway's schema name), which imports neither.
GROUND_MODULES = ("schema",)
OPERATION_PACKAGES = ("auth", "uploads", "reads", "status", "admin", "loris_record", "tus")
HTTP_PACKAGES = ("loris_api", "web")
HTTP_MODULES = ("__init__", "__main__", "routes", "openapi")
# Imports from an operation up to the HTTP floor that are there on purpose:
ALLOWED_UPWARD_IMPORTS = {
    # The auth middleware refuses a request in the shape of the API it asked: LORIS's under /api/v0.0.4-dev/.
    ("services.gateway.auth.middleware", "services.gateway.loris_api.errors"),
}


def gateway_floor(module: str) -> str:
    """'ground', 'operations' or 'http' for a module services.gateway.<...>; 'none' for one on no floor."""
    parts = module.split(".")[2:] or ["__init__"]
    if len(parts) == 1 and parts[0] in GROUND_MODULES:
        return "ground"
    if parts[-1].endswith("_routes") or parts[0] in HTTP_PACKAGES or (len(parts) == 1 and parts[0] in HTTP_MODULES):
        return "http"
    if parts[0] in OPERATION_PACKAGES:
        return "operations"
    return "none"


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def gateway_imports(root: Path) -> set[tuple[str, str]]:
    """(importer, imported) for each import of a gateway module by a gateway module, both as dotted names;
    `from package import module` counts as importing the module."""
    gateway_modules = {module_name(root, path) for path in (root / "services" / "gateway").rglob("*.py")}
    edges = set()
    for path in (root / "services" / "gateway").rglob("*.py"):
        importer = module_name(root, path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported = {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in gateway_modules
                            else node.module for alias in node.names}
            else:
                continue
            edges.update((importer, name) for name in imported if name in gateway_modules)
    return edges


FLOOR_HEIGHTS = {"ground": 0, "operations": 1, "http": 2}  # a module on no floor fails the test below


def upward_imports(root: Path) -> set[tuple[str, str]]:
    heights = {module: FLOOR_HEIGHTS.get(gateway_floor(module), -1) for edge in gateway_imports(root) for module in edge}
    return {(importer, imported) for importer, imported in gateway_imports(root)
            if heights[imported] > heights[importer] >= 0}


def test_every_gateway_module_is_on_a_floor():
    modules = {module_name(ROOT, path) for path in (ROOT / "services" / "gateway").rglob("*.py")}
    assert {module for module in modules if gateway_floor(module) == "none"} == set()


def test_the_gateway_operations_import_nothing_from_its_http_floor():
    assert upward_imports(ROOT) == ALLOWED_UPWARD_IMPORTS


def test_an_operation_importing_the_routes_is_an_upward_import(tmp_path):
    gateway = tmp_path / "services" / "gateway"
    (gateway / "uploads").mkdir(parents=True)
    for name in ("__init__.py", "routes.py", "uploads/__init__.py", "uploads/records.py"):
        (gateway / name).write_text("")
    (gateway / "uploads" / "launch.py").write_text("from services.gateway.uploads import records\n"
                                                   "from services.gateway import routes\n")
    assert upward_imports(tmp_path) == {("services.gateway.uploads.launch", "services.gateway.routes")}
