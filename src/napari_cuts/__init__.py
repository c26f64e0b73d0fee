"""napari-cuts: unsupervised multigranular segmentation (CUTS) for napari and the command line.

Subpackages, in the order data flows: ``engine`` (encoder, training, embedding, hierarchy;
no Qt, no napari), ``annotation`` (pick, refine, components, measure), ``formats`` (images
and the .cuts levels format), ``cli`` (the command line) and ``plugin`` (napari: reader,
writer, samples, dock widgets; Qt lives there only).
"""

import os as _os

# OpenMP threads that spin while waiting make torch 10-25x slower whenever another
# process (or the napari viewer) wants a core (docs/benchmarks.md). Passive waiting costs
# nothing measurable when the machine is idle. Only takes effect if torch is not loaded
# yet; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
