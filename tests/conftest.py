"""Fixtures for the napari widget tests (engine tests need none of these)."""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)

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
