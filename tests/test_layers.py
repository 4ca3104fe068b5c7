"""Dependencies run one way (DESIGN.md §2): storefront → rewards → tenants, config wiring them.
import-linter checks the contracts in pyproject.toml; these tests run it, and prove it bites."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
APPS = ("config", "tenants", "rewards", "storefront")


def lint_imports() -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_every_import_contract_is_kept():
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 kept, 0 broken" in result.stdout


def test_a_backward_import_breaks_the_build():
    probe = ROOT / "rewards" / "_backward_import_probe.py"
    probe.write_text("import storefront.models  # noqa: F401\n")
    try:
        result = lint_imports()
    finally:
        probe.unlink()
    assert result.returncode != 0
    assert "rewards._backward_import_probe -> storefront.models" in result.stdout


@pytest.mark.parametrize(
    ("probe_in", "imports", "why"),
    [
        ("ledger", "rewards.orders.models", "a lower sub-package imports a higher one"),
        ("catalog", "rewards.webhooks.services", "a sub-package imports a sibling on its own layer"),
        ("campaigns", "rewards.wallets.models", "a sub-package imports a sibling on its own layer"),
        ("webhooks", "rewards.models", "a sub-package imports the models of every other through the app's index"),
    ],
)
def test_a_sub_package_of_rewards_importing_upward_or_sideways_breaks_the_build(probe_in, imports, why):
    probe = ROOT / "rewards" / probe_in / "_layer_probe.py"
    probe.write_text(f"import {imports}  # noqa: F401\n")
    try:
        result = lint_imports()
    finally:
        probe.unlink()
    assert result.returncode != 0, why
    assert f"rewards.{probe_in}._layer_probe -> {imports}" in result.stdout


def rewards_layers() -> list[set[str]]:
    with open(ROOT / "pyproject.toml", "rb") as pyproject:
        contracts = tomllib.load(pyproject)["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in contracts if c.get("containers") == ["rewards"]]
    return [set(re.split(r"\s*[|:]\s*", layer)) for layer in layers]


def test_every_module_and_sub_package_of_rewards_has_a_layer():
    """A sub-package or module added to rewards later must be placed in the layers, or the build fails."""
    placed = set().union(*rewards_layers())
    present = {
        path.stem if path.is_file() else path.name
        for path in (ROOT / "rewards").iterdir()
        if (path.suffix == ".py" and path.stem not in {"__init__", "apps"})
        or (path.is_dir() and (path / "__init__.py").exists() and path.name != "migrations")
    }
    assert present - placed == set()
    assert {"catalog", "campaigns", "earning", "ledger", "moments", "orders", "wallets", "webhooks"} <= present


def test_each_sub_package_keeps_its_models_services_and_admin_beside_each_other():
    for name in ("catalog", "campaigns", "earning", "ledger", "moments", "orders", "wallets", "webhooks"):
        package = ROOT / "rewards" / name
        assert (package / "models.py").exists() and (package / "services.py").exists(), name


def test_no_app_imports_another_module_inside_a_function():
    """An import indented inside a function is how a cycle hides from the contracts. One is not: an
    AppConfig's `ready()` importing its own app's signal receivers (Django's documented way; the
    module imports models, so it cannot be imported before the registry is ready)."""
    hidden = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(rf"\s+(from|import) ({'|'.join(APPS)})\b", line)
        and not (path.name == "apps.py" and re.match(rf"\s+from {app} import \w+  # noqa: F401", line))
    ]
    assert hidden == []


def test_every_config_module_is_wiring_or_plumbing():
    """A module added to config/ must be named by a contract: as wiring (no app may import it) or
    as plumbing (it may import no app). Otherwise it would escape both."""
    with open(ROOT / "pyproject.toml", "rb") as pyproject:
        contracts = tomllib.load(pyproject)["tool"]["importlinter"]["contracts"]
    plumbing = {m for c in contracts if c["name"] == "config's plumbing imports no app" for m in c["source_modules"]}
    wiring = {m for c in contracts if c["name"] == "No app imports config's wiring" for m in c["forbidden_modules"]}
    modules = {f"config.{path.stem}" for path in (ROOT / "config").glob("*.py") if path.stem != "__init__"}
    assert modules - plumbing - wiring == set()
