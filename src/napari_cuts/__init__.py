"""napari-cuts: unsupervised multigranular segmentation (CUTS) for napari and the command line.

Subpackages, in the order data flows: ``engine`` (encoder, training, embedding, hierarchy;
no Qt, no napari), ``annotation`` (pick, refine, components, measure), ``formats`` (images
and the .cuts levels format), ``jobs`` (engine work in helper processes), ``cli`` (the
command line) and ``plugin`` (napari: reader, writer, samples, dock widgets; Qt lives
there only). Importing it changes nothing process-wide (no environment variables, no
settings of other libraries).
"""

__version__ = "0.1.0"
