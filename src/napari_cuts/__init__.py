"""napari-cuts: unsupervised multigranular segmentation (CUTS) for napari and the command line.

The engine (this package minus ``_widgets``) needs no Qt or napari.
"""

__version__ = "0.1.0"
