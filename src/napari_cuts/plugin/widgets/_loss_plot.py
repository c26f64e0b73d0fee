"""A tiny loss curve drawn with QPainter (no plotting library)."""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget


class LossPlot(QWidget):
    """Training loss per step (thin line) and per epoch (dots), log-scaled."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.step_losses: list[float] = []
        self.epoch_losses: list[tuple[int, float]] = []  # (step, mean loss of the epoch)
        self.total_steps = 1
        self.setMinimumHeight(70)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Training loss: every step (line) and the mean of each epoch (dots)")

    def reset(self, total_steps: int) -> None:
        self.step_losses.clear()
        self.epoch_losses.clear()
        self.total_steps = max(1, total_steps)
        self.update()

    def add(self, loss: float, epoch_loss: float | None = None, draw: bool = True) -> None:
        """Record a step's loss (and an epoch's); with `draw`, repaint."""
        self.step_losses.append(float(loss))
        if epoch_loss is not None:
            self.epoch_losses.append((len(self.step_losses), float(epoch_loss)))
        if draw:
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(4, 4, -4, -4)
        painter.fillRect(self.rect(), QColor(30, 30, 36))
        values = [v for v in self.step_losses if v > 0 and math.isfinite(v)]
        if len(values) < 2:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "loss curve")
            return
        lo, hi = math.log(min(values)), math.log(max(values))
        span = hi - lo or 1.0

        def point(step: int, value: float) -> QPointF:
            x = rect.left() + rect.width() * (step - 1) / max(1, self.total_steps - 1)
            y = rect.bottom() - rect.height() * (math.log(max(value, 1e-12)) - lo) / span
            return QPointF(x, y)

        line = QPolygonF([point(i + 1, v) for i, v in enumerate(self.step_losses)])
        painter.setPen(QPen(QColor(120, 170, 255), 1))
        painter.drawPolyline(line)
        painter.setPen(QPen(QColor(255, 190, 80), 5))
        for step, value in self.epoch_losses:
            painter.drawPoint(point(step, value))
