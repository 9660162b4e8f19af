"""The package's shape: stage subpackages whose imports point one way (the contracts in
pyproject.toml, checked with import-linter), no import cycle anywhere, and registries
that resolve. A deliberate violation must make the checks fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from tests.conftest import REPO

LINT = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports())"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the cnnlab package under ``root`` with root's pyproject.toml."""
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, env=env, capture_output=True, text=True)


def import_cycles(root: Path) -> list[tuple[str, str]]:
    code = (
        "import grimp\ng = grimp.build_graph('cnnlab')\n"
        "for a in sorted(g.modules):\n"
        "    for b in g.find_modules_directly_imported_by(a):\n"
        "        if g.find_shortest_chain(importer=b, imported=a): print(a, b)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env={"PYTHONPATH": str(root)},
                          capture_output=True, text=True, check=True)  # fmt: skip
    return [tuple(line.split()) for line in done.stdout.splitlines()]


def test_import_contracts_are_kept():
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_import_cycle():
    assert import_cycles(REPO) == []


@pytest.fixture
def package_copy(tmp_path) -> Path:
    shutil.copytree(REPO / "cnnlab", tmp_path / "cnnlab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def test_a_deliberate_upward_import_breaks_the_contract(package_copy):
    schema = package_copy / "cnnlab" / "config" / "schema.py"
    schema.write_text(schema.read_text() + "\nimport cnnlab.train.loop  # deliberate: config -> train\n")
    done = lint_imports(package_copy)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and "cnnlab.config.schema -> cnnlab.train.loop" in done.stdout
    assert ("cnnlab.config.schema", "cnnlab.train.loop") in import_cycles(package_copy)


def test_backend_and_errors_import_nothing_of_cnnlab():
    graph = grimp.build_graph("cnnlab")
    for module in ("cnnlab.backend", "cnnlab.errors"):
        assert graph.find_modules_directly_imported_by(module) == set(), module


def test_every_data_source_resolves_to_a_loader():
    import inspect

    from cnnlab.config.schema import DataConfig
    from cnnlab.config.sources import SOURCES
    from cnnlab.data import source_loader

    assert set(DataConfig.model_fields["source"].annotation.__args__) == set(SOURCES)
    for name in SOURCES:
        assert list(inspect.signature(source_loader(name)).parameters) == ["data_cfg", "seed"], name


def test_visualize_help_lists_every_registered_kind(cli):
    from cnnlab.inspect.kinds import KINDS

    text = cli("visualize", "--help").output
    for name, kind in KINDS.items():
        assert name in text and kind.help in text


def test_a_new_top_level_module_must_join_a_layer(package_copy):
    (package_copy / "cnnlab" / "stray.py").write_text('"""A module outside every layer."""\n')
    done = lint_imports(package_copy)
    assert done.returncode != 0 and "cnnlab.stray" in done.stdout, done.stdout[-1500:]
