"""The command line explains itself, and measure/components take the default level of a
levels file written by segment (issue 25)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import skimage.io

from napari_cuts.cli.main import build_parser, main


def subcommands() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


@pytest.mark.parametrize("name", ["fit", "segment", "run", "demo", "refine", "components", "measure"])
def test_every_subcommand_has_a_description_and_help_for_every_argument(name, capsys):
    parser = subcommands()[name]
    assert parser.description and len(parser.description) > 40
    undocumented = [a.option_strings or a.dest for a in parser._actions if not a.help]
    assert undocumented == []
    with pytest.raises(SystemExit) as stop:
        main([name, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert parser.description.split()[0] in out


def test_run_says_where_the_encoder_goes_and_what_seed_seeds():
    run = subcommands()["run"]
    output = next(a for a in run._actions if "-o" in a.option_strings)
    assert "encoder.pt" in output.help
    seed = next(a for a in run._actions if "--seed" in a.option_strings)
    assert "encoder" in seed.help and "segmentation" in seed.help and "sampling" in seed.help


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    """A photo and the levels written for it by ``napari-cuts run``."""
    folder = tmp_path_factory.mktemp("seg")
    rng = np.random.default_rng(0)
    img = rng.normal(60, 8, (48, 48))
    img[8:20, 8:20] += 120
    img[28:42, 24:40] += 120
    photo = folder / "img.png"
    skimage.io.imsave(photo, np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
    assert main(["run", str(photo), "-o", str(folder), "--epochs", "1", "--steps-per-epoch", "2",
                 "--no-progress"]) == 0
    summary = json.loads((folder / "img.cuts.json").read_text())
    return photo, folder / "img.cuts", summary


def test_measure_takes_the_default_level_recorded_beside_the_levels(segmented, tmp_path, capsys):
    photo, levels, summary = segmented
    assert main(["measure", str(photo), str(levels), "-o", str(tmp_path / "m.csv"), "--no-progress"]) == 0
    with open(tmp_path / "m.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == summary["levels"][summary["default_level"]]["n_regions"]
    assert main(["measure", str(photo), str(levels), "-o", str(tmp_path / "c.csv"), "--level", "0",
                 "--no-progress"]) == 0
    with open(tmp_path / "c.csv") as f:
        assert len(list(csv.DictReader(f))) == summary["levels"][0]["n_regions"]


def test_components_takes_the_default_level_recorded_beside_the_levels(segmented, tmp_path, capsys):
    _, levels, summary = segmented
    assert main(["components", str(levels), "-o", str(tmp_path), "--no-progress"]) == 0, \
        capsys.readouterr().err
    assert (tmp_path / "img.components.tif").is_file()
    with open(tmp_path / "img.components.csv") as f:
        assert len(list(csv.DictReader(f))) >= 1
