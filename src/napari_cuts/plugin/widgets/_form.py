"""Widget forms built from the config dataclasses (:mod:`napari_cuts.config`).

:class:`ConfigForm` makes one magicgui widget per field a user may change (``gui=True``),
labelled and bounded by the field's metadata, with its help text as tooltip; basic
fields are always shown, advanced ones sit in a collapsible "Advanced" fold, so a dock
stays short. :meth:`ConfigForm.config` builds the config from what the widgets show.
"""

from __future__ import annotations

import math
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, SpinBox, Widget
from qtpy.QtWidgets import QVBoxLayout, QWidget
from superqt import QCollapsible

from napari_cuts.parameters import Parameter, parameters


class NullableField(Container):
    """A number with a check box that stands for ``None`` (e.g. "all", "auto", "off")."""

    def __init__(self, inner: Widget, none_text: str, is_none: bool, **kwargs: Any) -> None:
        self.inner = inner
        self.none_box = CheckBox(text=none_text, value=is_none)
        super().__init__(widgets=[inner, self.none_box], layout="horizontal", labels=False, **kwargs)
        self.margins = (0, 0, 0, 0)
        self.none_box.changed.connect(self._sync)
        self._sync()

    def _sync(self, *_args) -> None:
        self.inner.enabled = not self.none_box.value

    @property
    def value(self) -> Any:
        return None if self.none_box.value else self.inner.value

    @value.setter
    def value(self, value: Any) -> None:
        self.none_box.value = value is None
        if value is not None:
            self.inner.value = value


def _float_step(p: Parameter) -> float:
    """A spin-box step a tenth of the default's magnitude (decimals follow the step)."""
    if not p.default:
        return 0.1
    return 10.0 ** (math.floor(math.log10(abs(p.default))) - 1)


def field_widget(p: Parameter) -> Widget:
    """The magicgui widget of one config field."""
    common = dict(label=p.label, tooltip=f"{p.help[:1].upper()}{p.help[1:]}" +
                  (f" ({p.range_text()})" if p.range_text() and not p.choices else ""))
    value = p.default
    if p.kind is bool:
        return CheckBox(value=bool(value), text=p.label, tooltip=common["tooltip"])
    if p.choices:
        return ComboBox(choices=list(p.choices), value=value, **common)
    if p.kind is str:
        return LineEdit(value=value, **common)
    bounds = {}
    if p.kind is int:
        if p.low is not None:
            bounds["min"] = int(p.low) + (1 if p.low_open else 0)
        if p.high is not None:
            bounds["max"] = int(p.high) - (1 if p.high_open else 0)
        make = SpinBox
    else:
        step = _float_step(p)
        bounds["step"] = step
        if p.low is not None:
            bounds["min"] = p.low + (step if p.low_open else 0.0)
        if p.high is not None:
            bounds["max"] = p.high - (step if p.high_open else 0.0)
        make = FloatSpinBox
    if p.none is None:
        return make(value=value, **bounds, **common)
    start = value if value is not None else p.start if p.start is not None else bounds.get("min", 0)
    return NullableField(make(value=start, **bounds), p.none, value is None, **common)


class ConfigForm:
    """The widgets of a config class's fields: basic ones, then an "Advanced" fold.

    ``form[name]`` is a field's widget; :attr:`basic` (a magicgui Container) and
    :attr:`advanced` (a QCollapsible, absent when there is nothing advanced) go in a
    dock's layout, or :attr:`native` holds both.
    """

    def __init__(self, config_class: type, *, skip: tuple[str, ...] = (),
                 extra: tuple[Widget, ...] = (), advanced_title: str = "Advanced") -> None:
        self.config_class = config_class
        self.parameters = [p for p in parameters(config_class) if p.gui and p.name not in skip]
        self.widgets: dict[str, Widget] = {p.name: field_widget(p) for p in self.parameters}
        self.basic = Container(widgets=list(extra) + [self.widgets[p.name] for p in self.parameters
                                                      if not p.advanced])
        self.basic.margins = (0, 0, 0, 0)
        advanced = [self.widgets[p.name] for p in self.parameters if p.advanced]
        self.advanced: QCollapsible | None = None
        if advanced:
            inner = Container(widgets=advanced)
            inner.margins = (0, 0, 0, 0)
            self.advanced = QCollapsible(f"{advanced_title} ({len(advanced)})")
            self.advanced.setCollapsedIcon("▸")
            self.advanced.setExpandedIcon("▾")
            self.advanced.setToolTip("Settings most images do not need; the defaults are tested")
            self.advanced.addWidget(inner.native)
            self._advanced_inner = inner
        self.native = QWidget()
        layout = QVBoxLayout(self.native)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.basic.native)
        if self.advanced is not None:
            layout.addWidget(self.advanced)

    def __getitem__(self, name: str) -> Widget:
        return self.widgets[name]

    def __contains__(self, name: str) -> bool:
        return name in self.widgets

    def values(self) -> dict[str, Any]:
        """The value of every field widget, by field name."""
        return {name: widget.value for name, widget in self.widgets.items()}

    def set_values(self, **values: Any) -> None:
        """Show these values (field name -> value)."""
        for name, value in values.items():
            self.widgets[name].value = value

    def config(self, **overrides: Any):
        """The config the widgets show (fields without a widget keep their default)."""
        return self.config_class(**{**self.values(), **overrides})
