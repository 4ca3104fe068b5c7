"""Static checks, run by the suite so the README's test command (and so CI) runs them (issue 16,
point 7): bandit over the product code, ruff's lint and format, and no model change without its
migration. Each tool is the version pinned in requirements.txt, run from the suite's own venv."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PRODUCT = ("config", "tenants", "rewards", "storefront")


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)


def bandit_findings() -> list[str]:
    result = run("bandit", "-c", "pyproject.toml", "-q", "-f", "json", "-r", *PRODUCT)
    report = json.loads(result.stdout)
    assert report["errors"] == [], report["errors"]
    return [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in report["results"]]


def test_bandit_finds_nothing_in_the_product_code():
    assert bandit_findings() == []


def test_bandit_reports_a_finding():
    probe = ROOT / "rewards" / "_bandit_probe.py"
    probe.write_text("import subprocess\n\n\ndef run(command):\n    subprocess.run(command, shell=True)\n")
    try:
        findings = bandit_findings()
    finally:
        probe.unlink()
    assert any("rewards/_bandit_probe.py:5 B602" in finding for finding in findings), findings


def test_every_accepted_bandit_finding_names_its_test_and_says_why():
    """`# nosec` alone would silence every test on its line, and give no reason."""
    unjustified = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in PRODUCT
        for path in (ROOT / app).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "nosec" in line and not re.search(r"# nosec B\d{3}(, B\d{3})*  # \S.{5,}$", line)
    ]
    assert unjustified == []


def test_ruff_finds_nothing():
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_code_is_formatted_as_ruff_formats_it():
    result = run("ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
