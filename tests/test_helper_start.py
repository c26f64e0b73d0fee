"""The helper process and the user's script: Python starts a helper by running the main
script again, so a script that opens napari outside ``if __name__ == "__main__":`` gets a
clear refusal instead of a second viewer and a wait that never ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = """
import multiprocessing, time
import numpy as np
from napari_cuts.jobs import client
from napari_cuts.jobs.tasks import TrainJob
from napari_cuts.engine.training import TrainingConfig

def run():
    client.prestart()
    job = TrainJob([(np.zeros((32, 32), np.float32), False, False)],
                   TrainingConfig(epochs=1, steps_per_epoch=1, batch_size=2))
    steps = client.run_job(job, refused=lambda message: "refused: " + message)
    while True:
        try:
            next(steps)
        except StopIteration as end:
            result = end.value
            break
    time.sleep(0.5)
    print("RESULT", result if isinstance(result, str) else type(result).__name__)
    print("CHILDREN", len(multiprocessing.active_children()))
"""


def run_script(tmp_path, body: str) -> str:
    path = tmp_path / "my_analysis.py"
    path.write_text(textwrap.dedent(SCRIPT) + body)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_an_unguarded_script_is_refused_before_any_helper_starts(tmp_path):
    out = run_script(tmp_path, "run()\n")
    assert "RESULT refused: napari-cuts runs its engine in a helper process" in out
    assert "my_analysis.py again" in out and "if __name__" in out
    assert "CHILDREN 0" in out


def test_a_guarded_script_runs_its_jobs_in_the_helper(tmp_path):
    out = run_script(tmp_path, 'if __name__ == "__main__":\n    run()\n')
    assert "RESULT Encoder" in out, out


EXIT_DURING_START = """
import sys, time
import napari  # noqa: F401  (slow to import: the helper, which imports this script, starts for seconds)
from napari_cuts.jobs import client

if __name__ == "__main__":
    client.prestart()
    time.sleep(float(sys.argv[1]))
    raise SystemExit(3)
"""


def test_python_exits_while_the_helper_still_starts(tmp_path):
    """A script that ends (or raises) right after a widget opened: the helper's background
    start is still running when Python exits. It used to wait for that helper forever."""
    path = tmp_path / "quits_early.py"
    path.write_text(EXIT_DURING_START)
    for delay in ("0.05", "0.1", "0.3"):  # before, during and after the helper's manager starts
        done = subprocess.run([sys.executable, str(path), delay], capture_output=True, text=True,
                              timeout=240, cwd=tmp_path)
        assert done.returncode == 3, done.stderr[-3000:]
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
