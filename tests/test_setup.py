"""Setup that talks: without any display the test command says so in one line and names
the fix (instead of Qt aborting), the install shows pip's progress, and every package
the code imports is declared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_without_display_or_xvfb_the_gui_tests_say_why_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PYTEST_ADDOPTS")}
    env["PATH"] = str(Path(sys.executable).parent)  # no Xvfb to be found
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
         "tests/test_panel.py::test_the_panel_holds_every_step_in_workflow_order",
         "tests/test_engine.py::test_nt_xent_prefers_matching_pairs"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert "Fatal Python error" not in out and "Aborted" not in out, out[-2000:]
    said = [line for line in out.splitlines() if "no X server" in line]
    assert len(said) == 1 and ".ci/run" in said[0] and "Xvfb" in said[0], out[-2000:]
    assert "1 passed, 1 skipped" in out, out[-2000:]  # the engine test still runs
    assert done.returncode == 1  # skipped GUI tests are not a pass


def test_make_shows_install_progress_and_tests_on_pyqt6():
    makefile = (ROOT / "Makefile").read_text()
    assert "--progress-bar on" in makefile and "--quiet" not in makefile and " -q " not in makefile.split(
        "$(STAMP):")[1].split("touch")[0]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"napari[pyqt6]"' in pyproject and '"napari[pyqt5]"' not in pyproject.lower()


def _make_n(*args: str) -> str:
    """The commands `make` would run to install (nothing runs), in a venv path of its own."""
    done = subprocess.run(["make", "-n", "-B", "install", "VENV=/nonexistent/venv", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_installs_torch_from_the_cpu_index_as_an_extra_index_and_cuda_users_can_change_it():
    torch = [line for line in _make_n().splitlines() if "pip install" in line and "torch==" in line]
    assert len(torch) == 1
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in torch[0]  # extra: pip's own stays
    assert " --index-url" not in torch[0]
    cuda = [line for line in _make_n("TORCH_INDEX=https://download.pytorch.org/whl/cu128").splitlines()
            if "torch==" in line and "pip install" in line]
    assert "--extra-index-url https://download.pytorch.org/whl/cu128" in cuda[0]
    plain = [line for line in _make_n("TORCH_INDEX=").splitlines() if "torch==" in line and "pip install" in line]
    assert "index-url" not in plain[0]
    readme = (ROOT / "README.md").read_text()
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cu" in readme  # the README says how


def test_the_readme_open_command_names_files_the_demo_writes_and_make_view_opens_them():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start")[1].split("## Install")[0]
    assert "source .venv/bin/activate" in quick and "make view" in quick
    assert "napari demo-output/retina.png demo-output/retina.cuts" in quick
    view = subprocess.run(["make", "-n", "view"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ".venv/bin/napari demo-output/retina.png demo-output/retina.cuts" in view.stdout


def test_the_demo_prints_a_napari_command_this_shell_can_run(monkeypatch, tmp_path):
    """Before the venv is activated `napari` is not on the PATH: the demo names the one
    beside its Python; once it is on the PATH, plain `napari`."""
    import shutil

    from napari_cuts.cli.main import _napari_command

    here = Path(sys.executable).parent / "napari"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if shutil.which("napari") is None and here.is_file():
        command = _napari_command()
        assert command != "napari" and (Path(command).is_file() or (Path.cwd() / command).is_file())
    monkeypatch.setenv("PATH", f"{here.parent}:/usr/bin:/bin")
    assert _napari_command() == "napari"


#: Import names whose distribution is named otherwise.
DISTRIBUTIONS = {"PIL": "Pillow", "skimage": "scikit-image", "yaml": "PyYAML", "sklearn": "scikit-learn",
                 "cv2": "opencv-python"}
#: Imports only an optional extra provides (used behind a check that says what to install).
OPTIONAL = {"dask": "distributed"}


def _requirement_name(requirement: str) -> str:
    """``napari[all]>=0.5`` -> ``napari`` (normalised as pip does)."""
    import re

    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_names() -> dict[str, str]:
    """Every top-level name an ``import``/``from`` in src/napari_cuts names, outside the
    standard library and the package itself, with one file that imports it."""
    import ast

    out: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "napari_cuts").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "napari_cuts":
                    out.setdefault(top, str(path.relative_to(ROOT)))
    return out


def test_every_imported_package_is_declared_in_pyproject():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {_requirement_name(r) for r in project["dependencies"]}
    extras = {extra: {_requirement_name(r) for r in reqs}
              for extra, reqs in project.get("optional-dependencies", {}).items()}
    imported = _imported_top_level_names()
    assert {"numpy", "PIL", "tqdm", "superqt"} <= set(imported)  # the walk finds imports
    missing = []
    for name, where in sorted(imported.items()):
        dist = _requirement_name(DISTRIBUTIONS.get(name, name))
        declared = extras.get(OPTIONAL[name], set()) if name in OPTIONAL else required
        if dist not in declared:
            missing.append(f"{name} (distribution {dist}, imported in {where})")
    assert missing == [], "imported but not declared in pyproject.toml: " + ", ".join(missing)


def test_ruff_finds_nothing():
    """The code follows the rules configured in pyproject.toml ([tool.ruff])."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests", "benchmarks", "docs"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
