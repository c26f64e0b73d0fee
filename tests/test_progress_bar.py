"""Progress that comes faster than napari draws: napari's progress bar processes events on
every change, so each update could deliver the next and nest in it until Qt aborts (a
Segment on the fundus photo with today's engine did). The widgets' bars never nest."""

from __future__ import annotations

import pytest
from qtpy.QtCore import QObject, Qt, Signal
from test_annotation_widgets import dock

from napari_cuts.engine.pipeline import Progress
from napari_cuts.engine.training import TrainingProgress

BURST = 30  # enough to show nesting, few enough that nesting would not abort the run


class Emitter(QObject):
    progress = Signal(object)


def burst(widget, items, qtbot, done):
    """Queue `items` for the widget's progress handler, as a worker's yielded signal does."""
    emitter = Emitter()
    emitter.progress.connect(widget._on_progress, Qt.ConnectionType.QueuedConnection)
    bar = widget._bar.bar
    depth, deepest = [0], [0]
    real = bar.set_description

    def counting(description):
        depth[0] += 1
        deepest[0] = max(deepest[0], depth[0])
        try:
            real(description)
        finally:
            depth[0] -= 1

    bar.set_description = counting
    for item in items:
        emitter.progress.emit(item)
    qtbot.waitUntil(lambda: bar.n == done, timeout=20_000)
    return bar, deepest[0]


@pytest.mark.parametrize("step", ["Segment", "Train encoder", "Scribble refinement"])
def test_a_burst_of_progress_never_nests_bar_updates(make_napari_viewer, qtbot, step):
    viewer = make_napari_viewer()
    widget = dock(viewer, step)
    widget._bar.start(total=BURST, desc="napari-cuts: test")
    if step == "Train encoder":
        widget.loss_plot.reset(BURST)
        items = [TrainingProgress(epoch=1, epochs=1, step=i, total_steps=BURST, loss=1.0 / i,
                                  contrastive=0.0, reconstruction=0.0) for i in range(1, BURST + 1)]
    else:
        items = [Progress("condensing", i, BURST, f"iteration {i}") for i in range(1, BURST + 1)]
    bar, deepest = burst(widget, items, qtbot, BURST)
    assert deepest == 1, f"progress bar updates nested {deepest} deep"
    assert bar.total == BURST
    if step == "Train encoder":
        assert len(widget.loss_plot.step_losses) == BURST  # every step is still plotted
        assert widget.status.text().startswith(f"epoch 1/1, step {BURST}/{BURST}")
    else:
        assert "condensing" in str(bar.desc) and widget.status.text().endswith(f"({BURST}/{BURST})")
    widget._bar.close()
    assert widget._bar.bar is None


@pytest.mark.parametrize("step", ["Segment", "Train encoder"])
def test_a_burst_of_progress_redraws_a_few_times_not_at_every_step(make_napari_viewer, qtbot, step):
    """The viewer's work for each shown step (napari's bar processes every pending event;
    labels and the loss plot repaint) would take CPU from the engine on a small machine:
    a burst is shown a few times a second, its first and last step always."""
    viewer = make_napari_viewer()
    widget = dock(viewer, step)
    n = 400
    widget._bar.start(total=n, desc="napari-cuts: test")
    if step == "Train encoder":
        widget.loss_plot.reset(n)
        items = [TrainingProgress(epoch=1, epochs=1, step=i, total_steps=n, loss=1.0 / i,
                                  contrastive=0.0, reconstruction=0.0) for i in range(1, n + 1)]
    else:
        items = [Progress("condensing", i, n, f"iteration {i}") for i in range(1, n + 1)]
    shown = []
    widget.status.setText = lambda text, real=widget.status.setText: (shown.append(text), real(text))
    bar, _ = burst(widget, items, qtbot, n)
    assert 2 <= len(shown) < n / 4, f"{len(shown)} of {n} steps shown"
    assert shown[-1].endswith(f"({n}/{n})") or f"step {n}/{n}" in shown[-1]
    widget._bar.close()
