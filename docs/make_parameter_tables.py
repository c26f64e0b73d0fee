"""Write docs/parameters.md: every parameter of training, segmentation, refinement,
components and measurements, from the config fields themselves (the same source as the CLI flags and the forms).

    .venv/bin/python docs/make_parameter_tables.py
"""

from __future__ import annotations

from pathlib import Path

from napari_cuts.config import (
    ComponentsConfig,
    MeasureConfig,
    RefineConfig,
    SegmentConfig,
    TrainingConfig,
)
from napari_cuts.parameters import parameters

OUT = Path(__file__).resolve().parent / "parameters.md"
SECTIONS = (
    ("Training (Train tab; `fit`, `run`, `demo`)", TrainingConfig),
    ("Segmentation (Segment tab; `segment`, `run`, `demo`)", SegmentConfig),
    ("Scribble refinement (Refine tab; `refine`)", RefineConfig),
    ("Ordered components (Components tab; `components`)", ComponentsConfig),
    ("Measurements (Measure tab; `measure`)", MeasureConfig),
)


def table(cls) -> list[str]:
    rows = ["| in the panel | flag | default | allowed | what it does |", "|---|---|---|---|---|"]
    for p in parameters(cls):
        where = f"{p.label} (Advanced)" if p.advanced else f"**{p.label}**"
        default = p.none if p.default is None else p.default
        flag = f"`{p.flag}`" if p.kind is not bool else f"`{p.flag}` / `--no-{p.flag[2:]}`"
        allowed = p.range_text() + (f" or {p.none}" if p.none else "")
        rows.append(f"| {where} | {flag} | {default} | {allowed} | {p.help} |")
    return rows


def text() -> str:
    """The page, as written (a test checks that docs/parameters.md is up to date)."""
    lines = [
        "# Parameters",
        "",
        "Every setting of napari-cuts, as the panel and the command line offer it. Both are",
        "built from the same fields (`napari_cuts.config`), so a setting has the same name,",
        "default and allowed range everywhere: `--like-this` on the command line, *like this*",
        "in the panel. Basic settings are always shown; the others sit in the *Advanced* fold.",
        "A value out of range is refused in one line naming the setting and its range.",
        "This page is written by `docs/make_parameter_tables.py`.",
        "",
    ]
    for title, cls in SECTIONS:
        lines += [f"## {title}", ""] + table(cls) + [""]
    return "\n".join(lines)


def main() -> None:
    OUT.write_text(text())
    print("wrote", OUT)


if __name__ == "__main__":
    main()
