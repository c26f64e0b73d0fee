"""napari-cuts: unsupervised multigranular segmentation (CUTS) for napari and the command line.

The engine (this package minus ``_widgets``) needs no Qt or napari. Importing it changes
nothing process-wide (no environment variables, no settings of other libraries).
"""

__version__ = "0.1.0"
