"""A level slider that marks the salient levels (and the default) under its groove, and
the line that describes the level it is on."""

from __future__ import annotations

from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QPainter, QPolygonF
from qtpy.QtWidgets import QSlider, QStyle, QStyleOptionSlider

MARK = 6  # pixels: height of a mark under the groove


class LevelSlider(QSlider):
    """A horizontal slider over every level (0 = coarsest) with marks under it: a small
    triangle at each salient level, a larger, brighter one at the default level."""

    def __init__(self, parent=None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.salient: list[int] = []
        self.default: int | None = None
        self.setMinimumHeight(self.sizeHint().height() + MARK + 4)

    def set_marks(self, salient: list[int], default: int | None) -> None:
        """Mark the levels at positions `salient` and the `default` one."""
        self.salient, self.default = [int(s) for s in salient], default
        self.update()

    def mark_x(self, value: int) -> float:
        """Horizontal centre, in widget pixels, of the handle at `value`."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        offset = QStyle.sliderPositionFromValue(self.minimum(), self.maximum(), int(value), span)
        return groove.x() + handle.width() / 2 + offset

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(event)
        if not self.salient and self.default is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        bottom = self.height() - 1
        marks = [(v, False) for v in self.salient if v != self.default]
        if self.default is not None:
            marks.append((self.default, True))
        for value, is_default in marks:
            if not self.minimum() <= value <= self.maximum():
                continue
            x, size = self.mark_x(value), MARK if is_default else MARK - 2
            painter.setBrush(QColor("#ffd54f") if is_default else QColor("#9e9e9e"))
            painter.drawPolygon(QPolygonF([QPointF(x, bottom - size), QPointF(x - size / 1.5, bottom),
                                           QPointF(x + size / 1.5, bottom)]))
        painter.end()


#: What each kind of level is, in the level line (see napari_cuts.engine.hierarchy.build).
KIND_TEXT = {
    "default": "default level: the regions that lived longest, at any depth of the tree",
    "classes": "classes: alike regions anywhere",
    "regions": "connected regions",
}


def level_line(meta: dict, position: int) -> str:
    """The line under the slider, e.g. 'level 22 (0 = coarsest, 52 = finest): 31 regions;
    default level: ...; the default; salient'."""
    row = meta["levels"][position]
    parts = [f"level {row['level']} (0 = coarsest, {meta['n_levels'] - 1} = finest): "
             f"{row['n_regions']} regions"]
    if row.get("kind") in KIND_TEXT:
        parts.append(KIND_TEXT[row["kind"]])
    if position == meta.get("default"):
        parts.append("the default")
    parts.append("salient" if row["salient"] else "not salient")
    return "; ".join(parts)
