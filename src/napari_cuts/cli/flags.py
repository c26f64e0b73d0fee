"""Command-line flags built from the config dataclasses (:mod:`napari_cuts.config`).

:func:`add_config_args` adds one ``--flag`` per field a user may change (``cli=True``),
with the field's help text, default and allowed values; :func:`config_from_args` builds
the config back from the parsed namespace. A field whose flag another config already
added to the same command (``--seed`` of training and segmentation in ``run``) shares
that flag when the defaults agree, and gets a prefixed flag (``--segment-seed``) when
they do not.
"""

from __future__ import annotations

import argparse
import weakref
from typing import Any

from napari_cuts.parameters import Parameter, parameters

__all__ = ["add_config_args", "config_from_args"]


def _value_type(p: Parameter):
    """argparse ``type`` of a field: its kind, and for a nullable field its none word."""
    base = p.kind

    def parse(text: str):
        if p.none is not None and text.strip().lower() in (p.none.lower(), "none"):
            return None
        try:
            return base(text)
        except ValueError:
            extra = f" or '{p.none}'" if p.none else ""
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if base is int else 'a number'}{extra}, got '{text}'"
            ) from None

    parse.__name__ = base.__name__  # argparse names the type in its messages
    return parse


def _help(p: Parameter) -> str:
    if p.default == "":  # a text field that is empty unless given
        return p.help.replace("%", "%%")
    default = p.none if p.default is None else p.default
    allowed = p.range_text()
    text = f"{p.help} (default {default}" + (f"; {allowed}" if allowed and not p.choices else "") + ")"
    return text.replace("%", "%%")


#: per parser, the flags added from configs: flag -> (dest, default, argparse action)
_FLAGS: weakref.WeakKeyDictionary[argparse.ArgumentParser, dict[str, tuple[str, Any]]] = (
    weakref.WeakKeyDictionary())


def _dest_map_key(cls: type) -> str:
    return f"cuts_{cls.__name__}_dests"


def add_config_args(parser: argparse.ArgumentParser, cls: type, *, prefix: str,
                    title: str, skip: tuple[str, ...] = ()) -> None:
    """Add a flag for every user-facing field of the config class `cls` to `parser`.

    Basic fields go into the group `title`, advanced ones into "advanced `title`".
    `prefix` (e.g. "segment") names the flag of a field that clashes with another
    config's field of a different default.
    """
    basic = parser.add_argument_group(title)
    advanced = parser.add_argument_group(f"advanced {title}")
    taken = _FLAGS.setdefault(parser, {})
    dests: dict[str, str] = {}
    for p in parameters(cls):
        if not p.cli or p.name in skip:
            continue
        flag, dest = p.flag, f"{prefix}_{p.name}"
        if flag in taken:
            if taken[flag][1] == p.default:
                dests[p.name] = taken[flag][0]  # shared flag, e.g. --seed
                action = taken[flag][2]
                action.help = f"{action.help}; also for {title}: {_help(p)}"
                continue
            flag = f"--{prefix}-{p.name.replace('_', '-')}"
        group = advanced if p.advanced else basic
        kwargs: dict[str, Any] = dict(dest=dest, default=p.default, help=_help(p))
        if p.kind is bool:
            action = group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif p.choices:
            action = group.add_argument(flag, choices=p.choices, **kwargs)
        else:
            metavar = p.metavar or ("N" if p.kind is int else "TEXT" if p.kind is str else "X")
            action = group.add_argument(flag, type=_value_type(p), metavar=metavar, **kwargs)
        dests[p.name] = dest
        taken[flag] = (dest, p.default, action)
    parser.set_defaults(**{_dest_map_key(cls): dests})


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any):
    """The config of class `cls` from parsed `args` (fields without a flag keep their default)."""
    dests = getattr(args, _dest_map_key(cls), None)
    if dests is None:
        raise ValueError(f"the parser has no flags for {cls.__name__}; call add_config_args first")
    values = {name: getattr(args, dest) for name, dest in dests.items()}
    return cls(**{**values, **overrides})
