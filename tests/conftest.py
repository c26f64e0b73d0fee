"""Fixtures for the napari widget tests (engine tests need none of these)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)


# ---- an isolated napari settings and config dir for the whole suite ---------------------
# napari reads its settings file from NAPARI_CONFIG (else platformdirs' user config dir,
# under XDG_CONFIG_HOME), and keeps caches and plugin state under the other XDG dirs.
# napari's viewer fixture resets (and so rewrites) the settings file; here that is a file
# of this run, never the user's. This must happen before anything imports napari.settings.
if "napari.settings" in sys.modules:  # pragma: no cover - a plugin imported napari early
    raise RuntimeError("napari.settings was imported before tests/conftest.py could isolate it")

#: The user's environment before isolation (to find their real settings file).
USER_ENV = {k: os.environ.get(k) for k in (
    "NAPARI_CONFIG", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")}
ISOLATED = Path(tempfile.mkdtemp(prefix="napari-cuts-tests-"))
for _name in ("config", "cache", "data", "state"):
    (ISOLATED / _name).mkdir()
    os.environ[f"XDG_{_name.upper()}_HOME"] = str(ISOLATED / _name)
os.environ["NAPARI_CONFIG"] = str(ISOLATED / "config" / "napari-settings.yaml")


def user_settings_path() -> Path:
    """The settings file napari uses for this user outside the tests."""
    if USER_ENV["NAPARI_CONFIG"]:
        return Path(USER_ENV["NAPARI_CONFIG"])
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in USER_ENV}
    env.update({k: v for k, v in USER_ENV.items() if v is not None})
    out = subprocess.run(  # napari's own answer, in a process with the user's environment
        [sys.executable, "-c", "from napari.settings import get_settings;"
         "print(get_settings().config_path)"],
        env=env, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def file_state(path: Path) -> tuple:
    """What changes when a file is written: (exists, mtime, size, sha256)."""
    if not path.is_file():
        return (False,)
    data = path.read_bytes()
    return (True, path.stat().st_mtime_ns, len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture
def user_settings() -> tuple[Path, tuple]:
    """The user's real napari settings file and its state when the test started (not when
    the suite did: on a shared machine another napari of the same environment may write
    it meanwhile)."""
    path = USER_SETTINGS[0]
    return path, file_state(path)


USER_SETTINGS: tuple[Path, tuple] = (Path(), ())


def pytest_configure(config):
    global USER_SETTINGS
    path = user_settings_path()
    USER_SETTINGS = (path, file_state(path))

#: Fixtures that need a display (Qt aborts the whole run without one).
GUI_FIXTURES = {"make_napari_viewer", "qtbot", "qapp"}
NO_DISPLAY = (
    "napari-cuts: no X server (DISPLAY) and no Xvfb, so the {n} GUI tests cannot run: "
    "run .ci/run (it installs Xvfb and Qt's xcb libraries, then runs make test)"
)


def _no_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return False
    return shutil.which("Xvfb") is None


def pytest_collection_modifyitems(config, items):
    """Without any display, skip the GUI tests (instead of Qt aborting every test) and say why."""
    if not _no_display():
        return
    gui = [item for item in items if GUI_FIXTURES & set(getattr(item, "fixturenames", ()))]
    config._napari_cuts_no_display = len(gui)
    for item in gui:
        item.add_marker(pytest.mark.skip(reason="no display: run .ci/run (installs Xvfb)"))


def pytest_terminal_summary(terminalreporter, config):
    n = getattr(config, "_napari_cuts_no_display", 0)
    if n:
        terminalreporter.write_line(NO_DISPLAY.format(n=n), red=True)


def pytest_sessionfinish(session, exitstatus):
    if getattr(session.config, "_napari_cuts_no_display", 0) and exitstatus == 0:
        session.exitstatus = 1  # skipped GUI tests are not a pass
    path, before = USER_SETTINGS
    if before and file_state(path)[-1:] != before[-1:]:  # a test wrote the user's own settings (content)
        session.exitstatus = 1
        print(f"\nnapari-cuts: the suite changed the user's napari settings file {path}",
              file=sys.stderr)
    shutil.rmtree(ISOLATED, ignore_errors=True)


class Notes:
    """The napari notifications shown since the fixture started."""

    def __init__(self, manager) -> None:
        self.manager = manager
        self.start = len(manager.records)

    @property
    def all(self) -> list:
        return self.manager.records[self.start:]

    def messages(self, severity: str | None = None) -> list[str]:
        return [
            str(n.message) for n in self.all
            if severity is None or str(n.severity).lower().endswith(severity)
        ]

    def errors(self) -> list:
        """Error notifications (these would offer a traceback to the user)."""
        return [n for n in self.all if str(n.severity).lower().endswith("error")]


@pytest.fixture
def notes():
    from napari.utils.notifications import notification_manager

    return Notes(notification_manager)
