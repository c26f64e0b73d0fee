"""One source of parameters: every config field has help and a range, and is settable
from the command line and from the GUI (the tests walk the fields, whatever they are)."""

from __future__ import annotations

import dataclasses

import pytest

from napari_cuts.cli.flags import config_from_args
from napari_cuts.cli.main import build_parser
from napari_cuts.config import (
    ComponentsConfig,
    MeasureConfig,
    RefineConfig,
    SegmentConfig,
    TrainingConfig,
)
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.parameters import parameters

CONFIGS = (TrainingConfig, SegmentConfig, RefineConfig, ComponentsConfig, MeasureConfig)
#: a command whose parser carries each config's flags, with its required arguments
COMMANDS = {
    TrainingConfig: [["fit", "a.png", "-o", "e.pt"], ["run", "a.png", "-o", "out"]],
    SegmentConfig: [["segment", "a.png", "-e", "e.pt", "-o", "out"], ["run", "a.png", "-o", "out"],
                    ["demo"]],
    RefineConfig: [["refine", "a.png", "--scribbles", "s.tif", "-e", "e.pt", "-o", "r.tif"]],
    ComponentsConfig: [["components", "m.tif", "-o", "out"]],
    MeasureConfig: [["measure", "a.png", "l.tif", "-o", "m.csv"]],
}


def other_value(cls, p):
    """A valid value of field `p` other than its default (found from the metadata)."""
    if p.kind is bool:
        candidates = [not p.default]
    elif p.choices:
        candidates = [c for c in p.choices if c != p.default]
    elif p.kind is str:
        candidates = ["A1-A3,B"]
    else:
        base = p.default if p.default is not None else p.low
        step = 1 if p.kind is int else (abs(base) / 2 if base else 0.25)
        candidates = [base + step, base + 2 * step, base - step, p.low, p.high]
        if p.default is not None and p.none is not None:
            candidates.insert(0, None)
    for value in candidates:
        if value is None and p.none is None or value == p.default:
            continue
        value = p.kind(value) if value is not None else None
        if isinstance(value, float) and round(value, 2) != p.default:
            value = round(value, 2)  # what a spin box of two decimals can hold
        try:
            cls(**{p.name: value})
        except CutsInputError:
            continue
        return value
    raise AssertionError(f"no valid non-default value found for {cls.__name__}.{p.name}")


def cli_text(p, value) -> list[str]:
    if p.kind is bool:
        return [p.flag if value else "--no-" + p.flag[2:]]
    return [p.flag, p.none if value is None else str(value)]


def all_fields():
    return [(cls, p) for cls in CONFIGS for p in parameters(cls)]


def test_every_field_has_metadata():
    for cls in CONFIGS:
        names = [f.name for f in dataclasses.fields(cls)]
        assert [p.name for p in parameters(cls)] == names, f"{cls.__name__}: a field without param()"
    for cls, p in all_fields():
        assert len(p.help) > 10, f"{cls.__name__}.{p.name} has no help text"
        if p.kind in (int, float):
            assert p.low is not None and p.high is not None, f"{cls.__name__}.{p.name} has no range"
        assert cls().__getattribute__(p.name) == p.default or p.none  # defaults validate


def test_tile_default_is_the_engines():
    from napari_cuts.engine.embedding import DEFAULT_TILE

    assert SegmentConfig().tile_size == DEFAULT_TILE


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_defaults_from_the_command_line_are_the_dataclass_defaults(cls):
    parser = build_parser()
    for argv in COMMANDS[cls]:
        assert config_from_args(cls, parser.parse_args(argv)) == cls()


@pytest.mark.parametrize("cls,p", all_fields(), ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")))
def test_every_field_is_settable_from_the_command_line(cls, p):
    assert p.cli, f"{cls.__name__}.{p.name} has no flag"
    value = other_value(cls, p)
    parser = build_parser()
    for argv in COMMANDS[cls]:
        args = parser.parse_args(argv + cli_text(p, value))
        config = config_from_args(cls, args)
        assert getattr(config, p.name) == value, (argv, p.name)
        assert config == cls(**{p.name: value})  # nothing else moved


@pytest.mark.parametrize("cls,p", [(c, p) for c, p in all_fields() if p.kind in (int, float)],
                         ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")))
def test_out_of_range_is_one_line_naming_the_parameter(cls, p):
    for bad in (p.high * 2 + 1, p.low - 1, float("nan")):
        with pytest.raises(CutsInputError) as info:
            cls(**{p.name: bad})
        message = str(info.value)
        assert p.label in message and "\n" not in message
        if bad == bad:  # a number out of range names the allowed range
            assert p.range_text() in message
    with pytest.raises(CutsInputError, match="must be a number"):  # text that looks like one
        cls(**{p.name: str(p.default if p.default is not None else p.low)})


def test_run_shares_one_seed_and_the_cli_refuses_in_one_line(capsys):
    from napari_cuts.cli.main import main

    args = build_parser().parse_args(["run", "a.png", "-o", "out", "--seed", "7"])
    assert config_from_args(TrainingConfig, args).seed == 7
    assert config_from_args(SegmentConfig, args).seed == 7
    assert main(["fit", "missing.png", "-o", "e.pt", "--epochs", "-1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "epochs" in err and "0 to" in err and len(err.splitlines()) == 1


# ---- GUI: the same fields in the dock widgets' forms --------------------------------
WIDGETS = {TrainingConfig: ("Train encoder", "training_config"),
           SegmentConfig: ("Segment", "segment_config"),
           RefineConfig: ("Scribble refinement", None),
           ComponentsConfig: ("Ordered components", None),
           MeasureConfig: ("Measure regions", None)}


def test_every_field_is_settable_from_the_gui(make_napari_viewer):
    viewer = make_napari_viewer()
    for cls, (name, getter) in WIDGETS.items():
        _, widget = viewer.window.add_plugin_dock_widget("napari-cuts", name)
        form = widget.form
        assert form.config() == cls()  # the form starts at the defaults
        advanced = [p.name for p in parameters(cls) if p.advanced]
        if advanced:  # advanced fields sit in the fold, collapsed
            assert form.advanced is not None and not form.advanced.isExpanded()
        for p in parameters(cls):
            assert p.gui and p.name in form, f"{cls.__name__}.{p.name} has no widget"
            value = other_value(cls, p)
            form[p.name].value = value
            shown = form[p.name].value  # a spin box shows a float to its decimals
            assert shown == (pytest.approx(value, rel=0.01) if isinstance(value, float) else value)
            config = getattr(widget, getter)() if getter else form.config()
            assert config == cls(**{p.name: shown}), p.name
            form[p.name].value = p.default
        assert form.config() == cls()


def test_the_parameter_page_is_up_to_date():
    """docs/parameters.md is written from the fields: a changed default, range or help
    text without rerunning docs/make_parameter_tables.py fails here."""
    import importlib.util
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    spec = importlib.util.spec_from_file_location("make_parameter_tables",
                                                  docs / "make_parameter_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (docs / "parameters.md").read_text() == module.text(), \
        "docs/parameters.md is out of date: run docs/make_parameter_tables.py"


def test_components_orders_are_the_engines():
    from napari_cuts.annotation.components import ORDERS

    order = next(p for p in parameters(ComponentsConfig) if p.name == "order")
    assert order.choices == ORDERS and order.default == "axis"
