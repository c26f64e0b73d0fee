"""The suite never touches the user's napari settings, and the plugin writes no settings."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import ISOLATED, file_state


def test_napari_settings_live_in_the_suites_own_folder(user_settings):
    from napari.settings import get_settings

    real, _ = user_settings
    path = Path(get_settings().config_path)
    assert path.is_relative_to(ISOLATED) and path != real
    assert os.environ["NAPARI_CONFIG"] == str(path)


def test_viewers_and_setting_changes_leave_the_real_settings_file_alone(make_napari_viewer, user_settings):
    """napari's viewer fixture resets the settings (and so writes the file); a test that
    changes a setting writes it too: both land in the suite's own file."""
    from napari.settings import get_settings

    real, before = user_settings
    make_napari_viewer()
    settings = get_settings()
    settings.plugins.extension2reader = {**settings.plugins.extension2reader, "*.xyz": "napari"}
    settings.reset()
    assert Path(settings.config_path).is_file()  # written, in the suite's folder
    assert file_state(real) == before


def test_opening_every_dock_writes_no_napari_setting(make_napari_viewer, user_settings):
    """The plugin sets no napari setting (it used to set a reader preference). napari
    itself records where each dock opened (application settings); nothing else changes."""
    from napari.settings import get_settings

    viewer = make_napari_viewer()
    settings = get_settings()
    before = settings.model_dump(mode="json")
    for name in ("All steps (one panel)", "Train encoder", "Segment", "Pick and merge",
                 "Scribble refinement", "Ordered components", "Measure regions"):
        viewer.window.add_plugin_dock_widget("napari-cuts", name)
    after = settings.model_dump(mode="json")
    assert after["plugins"] == before["plugins"] and after["plugins"]["extension2reader"] == {}
    assert {k: v for k, v in after.items() if k != "application"} == \
        {k: v for k, v in before.items() if k != "application"}
    changed = {k for k in after["application"] if after["application"][k] != before["application"][k]}
    assert changed <= {"plugin_widget_positions"}, changed  # napari's own record of dock places
    assert file_state(user_settings[0]) == user_settings[1]
