"""Fixtures for the napari widget tests (engine tests need none of these)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)


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
