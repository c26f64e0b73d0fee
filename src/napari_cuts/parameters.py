"""Declared parameters: :func:`param` fields, their :class:`Parameter` description and the check.

:func:`param` stores a field's help text, range, choices and whether it is an *advanced*
setting in the dataclass field's metadata. :func:`parameters` lists them for the faces
(the CLI flags and the widget forms are built from it), and :func:`validate` checks a
config against them: finite, in range, one of the choices, with a one-line
:class:`~napari_cuts.formats.errors.CutsInputError` naming the parameter. The configs
themselves are in :mod:`napari_cuts.config`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

from napari_cuts.formats.errors import CutsInputError

__all__ = ["Parameter", "param", "parameters", "validate"]


def param(default: Any, *, help: str, low: float | None = None, high: float | None = None,
          low_open: bool = False, high_open: bool = False, choices: tuple | None = None,
          advanced: bool = False, cli: bool = True, gui: bool = True, none: str | None = None,
          label: str | None = None, start: Any = None, metavar: str | None = None) -> Any:
    """A dataclass field carrying its help text and allowed values.

    `low`/`high` bound numbers (inclusive unless `low_open`/`high_open`); `choices` lists
    the allowed values of a string field (default: the field's ``Literal`` values);
    `none` names what ``None`` means (e.g. "all", "auto", "off") and makes the field
    nullable; `advanced` puts it in the GUI's advanced fold; `cli`/`gui` expose it there;
    `label` is its name for people (default: the field name with spaces); `start` is the
    value a nullable field's box shows while it is `none` (default: `low`); `metavar`
    stands for a text field's value in the CLI help.
    """
    meta = dict(help=help, low=low, high=high, low_open=low_open, high_open=high_open,
                choices=choices, advanced=advanced, cli=cli, gui=gui, none=none, label=label,
                start=start, metavar=metavar)
    return dataclasses.field(default=default, metadata={"cuts": meta})


@dataclass(frozen=True)
class Parameter:
    """One config field as the faces see it."""

    name: str
    default: Any
    kind: type  # bool, int, float or str
    help: str
    label: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    advanced: bool = False
    cli: bool = True
    gui: bool = True
    none: str | None = None  # nullable; what None means
    start: Any = None  # a nullable field's value in the GUI while it is None
    metavar: str | None = None  # a text field's value in the CLI help

    @property
    def flag(self) -> str:
        """The command-line flag, ``--like-this``."""
        return "--" + self.name.replace("_", "-")

    def range_text(self) -> str:
        """The allowed values in words, e.g. ``0 to 1`` or ``logistic or mlp``."""
        if self.choices:
            return " or ".join(map(str, self.choices))
        lo, hi = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            if not (self.low_open or self.high_open):
                return f"{lo} to {hi}"
            return f"{'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'above' if self.low_open else 'at least'} {lo}"
        if self.high is not None:
            return f"{'below' if self.high_open else 'at most'} {hi}"
        return ""


def _number(value: float | None) -> str:
    """A bound for people: whole numbers without exponent, others as %g."""
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:g}"


def _kind(hint: Any) -> tuple[type, tuple | None, bool]:
    """(kind, Literal choices, nullable) of a resolved type hint."""
    args = typing.get_args(hint)
    nullable = type(None) in args
    if nullable:
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007 (built at run time)
    if typing.get_origin(hint) is Literal:
        return str, typing.get_args(hint), nullable
    if hint in (bool, int, float, str):
        return hint, None, nullable
    raise TypeError(f"config fields must be bool, int, float, str or Literal, not {hint!r}")


_CACHE: dict[type, tuple[Parameter, ...]] = {}


def parameters(cls_or_config: Any) -> tuple[Parameter, ...]:
    """The :class:`Parameter` of every field declared with :func:`param`, in order."""
    cls = cls_or_config if isinstance(cls_or_config, type) else type(cls_or_config)
    if cls not in _CACHE:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            meta = dict(f.metadata.get("cuts", {}))
            if not meta:
                continue
            kind, literal, nullable = _kind(hints[f.name])
            if nullable and meta["none"] is None:
                raise TypeError(f"{cls.__name__}.{f.name}: a nullable field needs none='...'")
            meta["choices"] = meta["choices"] or literal
            meta["label"] = meta["label"] or f.name.replace("_", " ")
            out.append(Parameter(name=f.name, default=f.default, kind=kind, **meta))
        _CACHE[cls] = tuple(out)
    return _CACHE[cls]


def _check(p: Parameter, value: Any) -> None:
    if value is None:
        if p.none is None:
            raise CutsInputError(f"{p.label} must be set (allowed: {p.range_text()})")
        return
    allowed = f"allowed: {p.range_text()}" if p.range_text() else ""
    if p.kind is bool:
        if not isinstance(value, (bool, int)) or value not in (0, 1):
            raise CutsInputError(f"{p.label} must be true or false, got {value!r}")
        return
    if p.choices:
        if value not in p.choices:
            raise CutsInputError(f"unknown {p.label} '{value}' ({allowed})")
        return
    if p.kind is str:
        if not isinstance(value, str):
            raise CutsInputError(f"{p.label} must be text, got {value!r}")
        return
    try:
        if isinstance(value, (str, bytes)):  # float("2") would pass, and fail deep in numpy
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise CutsInputError(f"{p.label} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise CutsInputError(f"{p.label} must be a finite number, got {value!r}")
    if p.kind is int and not number.is_integer():
        raise CutsInputError(f"{p.label} must be a whole number, got {value!r}")
    too_low = p.low is not None and (number <= p.low if p.low_open else number < p.low)
    too_high = p.high is not None and (number >= p.high if p.high_open else number > p.high)
    if too_low and p.low == 0 and not p.low_open:
        raise CutsInputError(f"{p.label} must not be negative, got {_number(number)} ({allowed})")
    if too_low or too_high:
        raise CutsInputError(f"{p.label} out of range: {_number(number)} ({allowed})")


def validate(config: Any) -> None:
    """Check every field of `config` against its metadata (CutsInputError if one is off)."""
    for p in parameters(config):
        _check(p, getattr(config, p.name))
