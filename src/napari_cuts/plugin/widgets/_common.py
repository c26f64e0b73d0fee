"""Small pieces shared by the dock widgets."""

from __future__ import annotations

import os
import re
import time

from magicgui.widgets import ComboBox
from napari.layers import Image
from qtpy.QtCore import QEvent, QObject, QSize, Qt, QTimer
from qtpy.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)


def image_layer_combo(viewer, tooltip: str) -> ComboBox:
    """A combo box listing the viewer's image layers (kept up to date by reset_choices)."""

    def choices(_widget=None):
        return [(layer.name, layer) for layer in viewer.layers if isinstance(layer, Image)]

    return ComboBox(label="image", choices=choices, nullable=False, tooltip=tooltip)


class WidgetLife:
    """Tracks whether a dock widget still exists; stops its workers when it goes.

    Qt deletes dock widgets when the viewer closes; a worker started from a widget must
    then stop, and its handlers must not touch the deleted widget.
    """

    def __init__(self, widget: QWidget) -> None:
        self.alive = True
        self.workers: set = set()
        widget.destroyed.connect(self.end)

    def end(self, *_args) -> None:
        self.alive = False
        for worker in list(self.workers):
            worker.quit()


class Every:
    """True at most once per `seconds` (always with ``force``): to show a worker's
    progress a few times a second rather than at every step, so the viewer's own work
    (napari's bar processes every event pending; every label or plot change repaints)
    does not take CPU from the engine."""

    def __init__(self, seconds: float = 0.25) -> None:
        self.seconds = seconds
        self._last = -1e9

    def __call__(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self._last >= self.seconds:
            self._last = now
            return True
        return False


class ProgressBar:
    """A napari progress bar fed by a worker's progress, never re-entered.

    napari's bar runs ``QApplication.processEvents()`` on every change, which delivers the
    worker's next queued progress inside the update. Updating the bar from there again
    nests one update in another for as long as progress keeps coming, until Python's
    recursion limit turns into Qt's abort (a segmentation with many steps did that). Here
    a nested call only leaves its values; the outer call shows the newest when the bar
    returns, so the nesting is never deeper than one.
    """

    def __init__(self) -> None:
        self.bar = None
        self._pending: tuple[str, int, int] | None = None
        self._busy = False
        self._every = Every()

    def start(self, **kwargs) -> None:
        """Open a bar (``napari.utils.progress`` arguments), closing any open one."""
        from napari.utils import progress

        self.close()
        self.bar = progress(**kwargs)

    def show(self, description: str, done: int, total: int) -> None:
        """Show `done` of `total` steps and the description (the newest call wins; at most
        four times a second, and always the first and the last step)."""
        self._pending = (description, int(done), int(total))
        if self._busy or not self._every(force=done <= 0 or done >= total):
            return
        self._busy = True
        try:
            while self._pending is not None and self.bar is not None:
                bar, (description, done, total) = self.bar, self._pending
                self._pending = None
                if bar.total != total:
                    bar.total = total
                bar.set_description(description)  # napari processes events here
                if self.bar is bar:  # not closed meanwhile
                    bar.n = done
                    bar.update(0)
        finally:
            self._busy = False

    def close(self) -> None:
        if self.bar is not None:
            bar, self.bar = self.bar, None
            bar.close()


_LAST_FOLDER: list[str] = []  # the folder of the last file saved in this session


def file_name(*parts: str, suffix: str) -> str:
    """A file name made of `parts` (e.g. a layer name), safe on every system."""
    stem = " ".join(p for p in parts if p).strip()
    stem = re.sub(r"[^\w .,()+-]+", "_", stem).strip(" .") or "napari-cuts"
    return stem + suffix


def ask_save_path(parent: QWidget, caption: str, file_filter: str, suggested: str = "") -> str:
    """A file dialog for saving, offering `suggested` (a file name) in the last folder
    used; '' when cancelled."""
    start = os.path.join(_LAST_FOLDER[-1], suggested) if _LAST_FOLDER else suggested
    path, _ = QFileDialog.getSaveFileName(parent, caption, start, file_filter)
    if path:
        _LAST_FOLDER[:] = [os.path.dirname(path)]
    return path


def ask_open_path(parent: QWidget, caption: str, file_filter: str) -> str:
    """A file dialog for opening; '' when cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, caption, "", file_filter)
    return path


class VerticalScroll(QScrollArea):
    """A scroll area that scrolls up and down only: as wide as its content needs, as low
    as napari makes it (then it scrolls)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def _width(self, content: int) -> int:
        return content + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        if self.widget() is not None:
            hint.setWidth(self._width(self.widget().minimumSizeHint().width()))
        return hint

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        if self.widget() is not None:
            inner = self.widget().sizeHint()
            hint = QSize(self._width(inner.width()), inner.height() + 2 * self.frameWidth())
        return hint


class _TabsOnShow(QObject):
    """Event filter: the first time its widget shows, its dock joins the others' tabs."""

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Show:
            QTimer.singleShot(0, lambda: _join_tabs(obj, self))
        return False


def tab_with_other_docks(widget: QWidget) -> None:
    """When `widget`'s dock first shows, put it in tabs with the napari-cuts docks already
    open in the same dock area (Qt's own dock tabs; a tab can be dragged out again).

    napari stacks every dock of an area one under another: with all the steps open in a
    1280x800 window, each got about two rows. As tabs, each has the area's whole height.
    """
    widget._napari_cuts_dock = True
    widget._tabs_on_show = _TabsOnShow(widget)
    widget.installEventFilter(widget._tabs_on_show)


def _dock_of(widget: QWidget) -> QDockWidget | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def _join_tabs(widget: QWidget, watcher: QObject) -> None:
    dock = _dock_of(widget)
    window = dock.parentWidget() if dock is not None else None
    if not isinstance(window, QMainWindow):
        return  # shown before it was docked: wait for the next show
    widget.removeEventFilter(watcher)  # once, when it first shows in its dock
    if dock.isFloating():
        return
    if window.tabifiedDockWidgets(dock):
        return  # in tabs already
    area = window.dockWidgetArea(dock)
    others = [other for other in window.findChildren(QDockWidget)
              if other is not dock and other.isVisible() and not other.isFloating()
              and window.dockWidgetArea(other) == area and _is_ours(other)]
    if others:  # the largest group of tabs, so that all end up in one
        target = max(others, key=lambda other: len(window.tabifiedDockWidgets(other)))
        window.tabifyDockWidget(target, dock)
        QTimer.singleShot(0, dock.raise_)  # the dock just opened is the tab in front


def _is_ours(dock: QDockWidget) -> bool:
    return any(getattr(w, "_napari_cuts_dock", False) for w in dock.findChildren(QWidget))


def column(parent: QWidget, *items, stretch: bool = True) -> QVBoxLayout:
    """Lay out a dock widget top to bottom, in a scroll area.

    Items: a widget (or a magicgui widget: its ``.native``); a list of widgets, side by
    side in one row; a string, shown as a label (e.g. ``"<b>Active encoder</b>"``).
    With `stretch`, empty space goes below the last item. The scroll area lets napari
    stack several docks in a small window: each may get less height than it wants and
    scrolls instead of pushing the window off the screen. The dock also joins the other
    napari-cuts docks as a tab (:func:`tab_with_other_docks`).
    """
    tab_with_other_docks(parent)
    outer = QVBoxLayout(parent)
    outer.setContentsMargins(0, 0, 0, 0)
    area = VerticalScroll(parent)
    inner = QWidget(area)
    layout = QVBoxLayout(inner)
    for item in items:
        if isinstance(item, str):
            layout.addWidget(QLabel(item))
        elif isinstance(item, list):
            row = QHBoxLayout()
            for widget in item:
                row.addWidget(widget)
            layout.addLayout(row)
        else:
            layout.addWidget(getattr(item, "native", item))
    if stretch:
        layout.addStretch(1)
    area.setWidget(inner)
    outer.addWidget(area)
    return layout
