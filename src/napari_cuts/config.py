"""Every user-facing parameter, once: defaults, help text and allowed ranges.

Each field of :class:`TrainingConfig`, :class:`SegmentConfig`, :class:`RefineConfig`,
:class:`ComponentsConfig` and :class:`MeasureConfig` is declared with
:func:`~napari_cuts.parameters.param` (help text, range, choices, *advanced*);
:func:`~napari_cuts.parameters.parameters` lists them for the faces and
:func:`~napari_cuts.parameters.validate` checks a config against them.

To add a parameter, add a field with ``param(...)``; nothing else needs to know about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.parameters import param, validate

__all__ = ["ComponentsConfig", "MeasureConfig", "RefineConfig", "SegmentConfig", "TrainingConfig"]

INT32_MAX = 2**31 - 1


# ----------------------------------------------------------------------------- training


@dataclass
class TrainingConfig:
    """Training parameters; defaults follow the CUTS paper where it gives them."""

    epochs: int = param(10, low=0, high=10_000,
                        help="passes over the training data; the epoch with the lowest mean loss is kept "
                             "(0: no training, the encoder's random weights: segments at once)")
    steps_per_epoch: int = param(25, low=1, high=100_000, help="optimiser steps per epoch")
    batch_size: int = param(16, low=1, high=1024,
                            help="images (or slices) sampled per step; smaller is faster and noisier")
    anchors_per_image: int = param(8, low=2, high=1024, advanced=True,
                                   help="anchor pixels sampled per image and step (contrast needs 2)")
    patch_size: int = param(5, low=1, high=31,
                            help="side of the pixel patch a pixel's vector must reconstruct (odd)")
    contrastive_weight: float = param(0.5, low=0, high=1, label="lambda",
                                      help="weight of the contrastive term against patch reconstruction "
                                           "(the CUTS paper: 0.001)")
    positives: Literal["nearby", "ssim"] = param(
        "nearby", help="how an anchor's positive is chosen: a pixel up to 'positive shift' away, both "
                       "randomly brightened, noised and flipped (vectors then encode texture, not "
                       "brightness); or 'ssim', the CUTS paper's alike patch within the patch size")
    positive_shift: int = param(8, low=1, high=64, advanced=True,
                                help="with nearby positives: how far (pixels) a positive may lie from its anchor")
    jitter: float = param(0.3, low=0, high=2, advanced=True,
                          help="with nearby positives: random log-gain and offset of each crop (0: none)")
    noise: float = param(0.05, low=0, high=1, advanced=True,
                         help="with nearby positives: Gaussian noise added to each crop (0..1 intensities)")
    temperature: float = param(0.1, low=0, high=10, low_open=True, advanced=True,
                               help="temperature of the NT-Xent contrastive loss")
    ssim_threshold: float = param(0.5, low=-1, high=1, advanced=True,
                                  help="a positive's patch must have an SSIM above this with the anchor's")
    learning_rate: float = param(1e-3, low=0, high=1, advanced=True,
                                 help="AdamW peak learning rate (0: the encoder never learns, an ablation)")
    weight_decay: float = param(1e-4, low=0, high=1, advanced=True, help="AdamW weight decay")
    warmup_fraction: float = param(0.05, low=0, high=1, advanced=True,
                                   help="fraction of the steps spent warming the learning rate up")
    base_channels: int = param(16, low=1, high=64, label="kernels k",
                               help="filters of the first layer (k, 2k, 4k, 8k); vectors have 8k numbers")
    seed: int = param(0, low=0, high=INT32_MAX, help="the same seed and settings give the same encoder")
    #: A step works on small crops, so one thread is about as fast as two, and it does not
    #: collapse when another process (or the viewer) wants a core: two threads were 26x
    #: slower then (docs/benchmarks.md).
    threads: int = param(1, low=0, high=256, advanced=True,
                         help="torch threads while training (0: torch's default)")

    def __post_init__(self):
        validate(self)
        if self.patch_size % 2 == 0:
            raise CutsInputError("patch size must be an odd number (3, 5, 7, ...)")


# ----------------------------------------------------------------------------- segmentation


#: the texture statistics' full weight (``texture_weight`` auto uses it where the image
#: varies mostly within textures; the GUI offers it when auto is unticked)
TEXTURE_WEIGHT = 1.5


@dataclass
class SegmentConfig:
    """Parameters of the pixel points, the basins, the two condensations and the levels.

    Each pixel's point is its reduced CUTS vector (unit RMS spread x vector_weight), its
    normalised intensities (x intensity_weight) and the local mean and spread of its
    vectors over texture_scale pixels (x texture_weight, by default chosen per image). The
    watershed basins of the points' gradient, about pixels_per_node pixels each, are the
    nodes; condensation along their adjacency gives connected regions, condensation of
    those regions' mean points groups alike regions anywhere into classes; every level
    nests in the coarser ones. The default level is a cut of that tree chosen without
    labels (default_rule, region_weight; see :mod:`napari_cuts.engine.hierarchy.default_level`).
    """

    pca_dims: int = param(8, low=1, high=128, advanced=True,
                          help="principal components of the CUTS vectors that are condensed")
    whiten: float = param(0.5, low=0, high=1, advanced=True,
                          help="components scaled by variance**(-w/2): weak ones (hue) count more; "
                               "0 keeps them, 1 whitens fully")
    vector_weight: float = param(0.5, low=0, high=1000, advanced=True,
                                 help="weight of the CUTS vectors beside the intensities (0: "
                                      "intensities only, an ablation)")
    intensity_weight: float = param(3.0, low=0, high=1000,
                                    help="weight of the pixel's own intensities beside its vector "
                                         "(sharper boundaries), scaled down by itself where "
                                         "intensities only vary within textures")
    texture_scale: float = param(6.0, low=0, high=64,
                                 help="window (Gaussian sigma, pixels) of the local mean and spread of "
                                      "the vectors that describe texture; 0: off")
    texture_weight: float | None = param(None, low=0, high=1000, none="auto", advanced=True,
                                         start=TEXTURE_WEIGHT,
                                         help="weight of the texture statistics beside vectors and "
                                              "intensities; auto: 1.5 where the intensities vary mostly "
                                              "within textures, 0 where they tell regions apart")
    smoothing: float = param(0.0, low=0, high=50, advanced=True,
                             help="Gaussian smoothing of the vectors themselves, in pixels")
    pixels_per_node: int = param(64, low=4, high=100_000, label="basin size",
                                 help="pixels per watershed basin, the smallest regions; smaller for "
                                      "tiny objects")
    z_spacing: float | None = param(None, low=0.1, high=100, none="auto", label="z spacing",
                                    help="a stack's z step over its pixel size in y and x (voxel "
                                         "depth / width): the gradient the basins follow uses it; "
                                         "auto: the file's voxel size (ImageJ or OME TIFF) or the "
                                         "layer's scale; where neither says, 1")
    max_basins: int = param(16_384, low=16, high=10_000_000, advanced=True,
                            help="basins at most: on large images they grow beyond the basin size "
                                 "(time grows with their number)")
    size_penalty: float = param(0.5, low=0, high=4, advanced=True,
                                help="large regions merge later than fragments (0: by their points only)")
    knn: int = param(10, low=1, high=200, advanced=True,
                     help="neighbours per region when alike regions are grouped anywhere")
    merge_fraction: float = param(0.1, low=0, high=1, low_open=True, advanced=True,
                                  help="connected regions whose points come closer than this fraction "
                                       "of the kernel width merge")
    epsilon_growth: float = param(1.1, low=1, high=10, low_open=True, advanced=True,
                                  help="kernel bandwidth factor applied when no connected regions merged")
    class_merge_fraction: float = param(0.05, low=0, high=1, low_open=True, advanced=True,
                                        help="the same when alike regions are grouped anywhere")
    class_epsilon_growth: float = param(1.15, low=1, high=10, low_open=True, advanced=True,
                                        help="the same when alike regions are grouped anywhere")
    mass_power: float = param(0.5, low=0, high=2, advanced=True,
                              help="how much a region's pixel count weighs in diffusion")
    fine_levels: int = param(32, low=1, high=64, advanced=True,
                             help="connected levels offered between the basins and the default level")
    default_rule: Literal["lifetime", "classes", "persistent"] = param(
        "lifetime",
        help="how the default level is chosen: 'lifetime', the connected regions whose lifetime in "
             "the condensation (x size**region weight) weighs the most, at any depth of the tree "
             "(objects, and regions of tissue); 'classes', the class level that lasted longest (one "
             "label per tissue however many pieces, e.g. grey and white matter); 'persistent', the "
             "connected level that lasted longest (the CUTS paper's choice; an ablation)")
    region_weight: float = param(0.5, low=0, high=2, advanced=True,
                                 help="with the lifetime rule: how much a region's size weighs beside "
                                      "its lifetime (0: not at all, 1: in proportion; 0.5 favours "
                                      "neither small objects nor large regions)")
    max_levels: int = param(64, low=1, high=64, help="levels offered at most")
    n_salient: int = param(5, low=1, high=64, label="salient levels",
                           help="how many levels are marked salient on the slider: the default and "
                                "the most persistent others")
    sample_pixels: int = param(300_000, low=1000, high=100_000_000, advanced=True,
                               help="images with more pixels are embedded from a sample first")
    pca_pixels: int = param(50_000, low=100, high=10_000_000, advanced=True,
                            help="pixels sampled to fit the PCA")
    sample_tile: int = param(128, low=16, high=4096, advanced=True,
                             help="side of the tiles the pixel sample is drawn from")
    tile_size: int = param(512, low=32, high=8192, advanced=True,  # embedding.DEFAULT_TILE
                           help="side of the tiles the image is embedded in (memory, not result)")
    seed: int = param(0, low=0, high=INT32_MAX, help="seed of pixel sampling")
    memory_limit: int | None = param(None, low=10**6, high=2**50, none="auto", advanced=True,
                                     help="memory allowed, in bytes (auto: what the machine has available)")

    def __post_init__(self):
        validate(self)


# ----------------------------------------------------------------------------- refinement


@dataclass
class RefineConfig:
    """Features and classifier of scribble refinement.

    ``weight_decay`` is strong by default (1.0 for logistic regression, 0.1 for the MLP):
    with a few dozen scribbled pixels and tens of features, a weakly regularised
    classifier fits the strokes and extrapolates wildly elsewhere (e.g. at edges).
    ``clip``: standardised features are clipped to +-clip, so that extreme responses (at
    edges, say) cannot outvote the other features.
    """

    pca_dims: int | None = param(16, low=1, high=512, none="all",
                                 help="principal components of the CUTS vectors kept (all: keep every one)")
    intensity: bool = param(True, help="add the image's normalised intensities as features")
    smoothing: float = param(1.0, low=0, high=50,
                             help="Gaussian smoothing of the features, in pixels (pools texture)")
    level_encoding: Literal["mean", "onehot"] = param(
        "mean", advanced=True,
        help="how levels, when given, become features: the mean feature vector of the pixel's "
             "region, or a one-hot code of its region id")
    classifier: Literal["logistic", "mlp"] = param(
        "logistic", help="multinomial logistic regression, or an MLP with one hidden layer")
    hidden: int = param(32, low=1, high=1024, advanced=True, help="hidden units of the MLP")
    iterations: int = param(300, low=1, high=100_000, advanced=True, help="full-batch Adam steps")
    learning_rate: float = param(0.05, low=0, high=10, low_open=True, advanced=True, help="Adam step size")
    weight_decay: float | None = param(None, low=0, high=1000, none="auto", advanced=True,
                                       help="L2 penalty on the weights (auto: 1 for logistic, 0.1 for mlp)")
    clip: float | None = param(3.0, low=0, high=1000, low_open=True, none="off", advanced=True,
                               help="standardised features are clipped to +-clip (off: no clipping)")
    sample_pixels: int = param(200_000, low=100, high=100_000_000, advanced=True,
                               help="pixels sampled to fit the PCA and standardise the features")
    seed: int = param(0, low=0, high=INT32_MAX, help="seeds the PCA sample and the MLP's initial weights")

    def __post_init__(self):
        validate(self)
        if self.weight_decay is None:
            self.weight_decay = 1.0 if self.classifier == "logistic" else 0.1


# ----------------------------------------------------------------------------- components


@dataclass
class ComponentsConfig:
    """How a mask is split into connected objects, numbered and named
    (:func:`napari_cuts.annotation.components.ordered_components`)."""

    class_id: int | None = param(None, low=0, high=INT32_MAX, none="all", label="class", start=1,
                                 help="use only pixels of this label (all: every nonzero pixel)")
    min_size: int = param(0, low=0, high=INT32_MAX, label="min size",
                          help="drop components of fewer pixels than this")
    order: Literal["axis", "top-bottom", "left-right", "z"] = param(
        "axis", help="'axis': along the structure's main axis from the top (or left) end; "
                     "'top-bottom', 'left-right', or 'z' for stacks")
    reverse: bool = param(False, help="number the components from the other end")
    names: str = param("", metavar="C1-C7,T1,...",
                       help="names in order; ranges like C1-C7 expand (extra components get numbers)")
    connectivity: int = param(1, low=1, high=3, advanced=True,
                              help="1: pixels sharing an edge connect; 2 (or 3 in a stack): corners too")

    def __post_init__(self):
        validate(self)


# ----------------------------------------------------------------------------- measure


@dataclass
class MeasureConfig:
    """Per-region measurements (:func:`napari_cuts.annotation.measure.measure_regions`)."""

    glcm_levels: int = param(32, low=2, high=255, label="GLCM levels",
                             help="grey levels the intensities are binned to for the GLCM texture "
                                  "measures (contrast, homogeneity)")

    def __post_init__(self):
        validate(self)
