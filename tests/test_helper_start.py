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


KILLED_WHILE_HELPERS_RUN = """
import os, sys, time
import psutil
from napari_cuts.jobs import client

if __name__ == "__main__":
    pool, manager = client._engine()
    pool.submit(os.getpid).result(timeout=200)  # a helper process is up
    manager.Event()  # and the manager answers
    print("CHILDREN", *[p.pid for p in psutil.Process().children(recursive=True)], flush=True)
    time.sleep(600)
"""


def test_helpers_end_when_their_viewer_is_killed(tmp_path):
    """A viewer killed from outside runs no exit handler: its helper processes and their
    manager notice that it is gone and end, instead of waiting forever."""
    import psutil

    path = tmp_path / "killed.py"
    path.write_text(KILLED_WHILE_HELPERS_RUN)
    parent = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = parent.stdout.readline()
        assert line.startswith("CHILDREN"), line
        children = [psutil.Process(int(pid)) for pid in line.split()[1:]]
        assert len(children) >= 2  # the manager and a helper (and the resource tracker)
    finally:
        parent.kill()
        parent.wait(timeout=60)

    def running(process) -> bool:
        try:
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    _, alive = psutil.wait_procs(children, timeout=120)
    still = [p for p in alive if running(p)]
    for process in still:
        process.kill()
    assert not still, f"{len(still)} helper processes outlived their killed parent"
