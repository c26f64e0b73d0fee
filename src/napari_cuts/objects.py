"""The objects level: every class as one region, as its pieces, or as its objects.

What the user sees first (see :mod:`napari_cuts.levels`). A class of many compact pieces
is *things* (nuclei: each its own object, touching ones split apart); a class of a few
pieces is shown as its pieces, each split along a level of finer regions (a piece that
surrounds the others, such as the fundus around a lesion, along compact regions, the
objects inside it cut out whole), the alike parts of a piece joined again; other classes,
tissue spread over the image, stay one region each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .regions import (adjacency, labelled_pieces, node_majority, pieces, pooled, shape_anisotropy,
                      split_touching)
from .standout import salient_regions


#: parts of a piece that do not touch join only where each holds at least this fraction
#: of the piece (see :func:`merge_alike`)
FAR_JOIN_MIN = 1 / 64


@dataclass
class NodeStats:
    """What the objects level knows of the superpixels: mean point, pixel count, spread
    (mean squared deviation of their pixels' points) and which touch which."""

    means: np.ndarray
    counts: np.ndarray
    spread: np.ndarray
    edges: np.ndarray


@dataclass
class ObjectsLevel:
    """The objects level over the nodes, and the objects ("things") drawn per pixel."""

    partition: np.ndarray  # (M,) region of every node
    fate: list[str]  # what became of every class
    instances: np.ndarray  # (Z, Y, X) object 1..n of every pixel in a class of things, else 0
    z_scale: float = 1.0  # the z spacing the objects were split with


def merge_nested_things(classes: np.ndarray, *, min_size: int, thing_solidity: float,
                        few_pieces: int, enclosed: float = 0.5) -> tuple[np.ndarray, dict[int, int]]:
    """Classes that are parts of compact objects joined to the class around them.

    A class of many pieces (more than `few_pieces` of `min_size` pixels) whose boundary
    mostly (`enclosed`) touches one other class joins it when the two together are
    things: many pieces of solidity `thing_solidity` or more, such as nuclei whose bright
    cores and dimmer rims came out as two classes. Tissue classes that border each
    other form a few large pieces together and stay apart. Returns the (Z, Y, X)
    classes and {joined: into}.
    """
    classes = classes.astype(np.int32, copy=True)
    k = int(classes.max()) + 1
    pairs, faces = adjacency(classes)
    share = np.zeros((k, k))  # boundary faces between every two classes
    np.add.at(share, (pairs[:, 0], pairs[:, 1]), faces)
    share += share.T
    sizes = np.bincount(classes.ravel(), minlength=k)
    merged: dict[int, int] = {}
    refused: set[tuple[int, int]] = set()
    joined = True
    while joined:
        joined = False
        total = share.sum(1)
        moves = [(int(c), int(np.argmax(share[c]))) for c in np.flatnonzero(total > 0)
                 if share[c].max() >= enclosed * total[c]]
        # the smallest class first
        for c, d in sorted((m for m in moves if m not in refused), key=lambda m: sizes[m[0]]):
            if labelled_pieces(classes == c, min_size)[1] > few_pieces:  # parts of many objects
                _, n_big, solidity = pieces((classes == c) | (classes == d), min_size)
                if n_big > few_pieces and solidity >= thing_solidity:
                    classes[classes == c] = d
                    merged[c], sizes[d] = d, sizes[d] + sizes[c]
                    share[d] += share[c]
                    share[:, d] += share[:, c]
                    share[c], share[:, c], share[d, d] = 0, 0, 0
                    joined = True
                    break
            refused.add((c, d))
    for c, d in list(merged.items()):  # chains: the class everything went into
        while d in merged:
            d = merged[d]
        merged[c] = d
    return classes, merged


def objects_partition(pixel_nodes: np.ndarray, class_of_node: np.ndarray, *, min_size: int,
                      thing_solidity: float, few_pieces: int, anisotropy: float | None = 1.0,
                      regions: np.ndarray | None = None, surround_regions: np.ndarray | None = None,
                      surround: float = 0.5, nodes: NodeStats | None = None,
                      alike: float = 0.0, levels: list[np.ndarray] | None = None) -> ObjectsLevel:
    """Nodes' regions when each class becomes one region, its pieces, or its instances.

    A class with at most `few_pieces` pieces of `min_size` pixels or more is split into
    its connected pieces; a class of many pieces whose area-weighted solidity reaches
    `thing_solidity` (compact objects) into instances, touching blobs split apart; other
    classes (tissue spread over the image) stay one region. Pieces are split further
    along `regions` (a connected level), or, a piece that covers more than `surround` of
    the image, along `surround_regions` (a compact level), with the objects inside it
    that stand out among the regions of `levels` (node partitions, any) cut out whole
    (see :func:`split_pieces`); with `nodes`, the parts of a piece that are alike join again
    (:func:`merge_alike`, threshold `alike`). `anisotropy` is a stack's z
    spacing for that split; None (not known): the class's own pieces tell it
    (:func:`~napari_cuts.regions.shape_anisotropy`).
    """
    classes = class_of_node[pixel_nodes]
    classes, merged = merge_nested_things(classes, min_size=min_size, thing_solidity=thing_solidity,
                                          few_pieces=few_pieces)
    out = np.zeros(pixel_nodes.shape, np.int64)
    instances = np.zeros(pixel_nodes.shape, np.int64)
    fate = []
    offset = 0
    z_scale = None
    for c in range(int(class_of_node.max()) + 1):
        if c in merged:
            fate.append(f"objects with class {merged[c]}")
            continue
        mask = classes == c
        if not mask.any():
            continue
        lab, n_big, solidity = pieces(mask, min_size)
        if n_big <= few_pieces:
            fate.append("pieces")
            if regions is not None:
                inner = None
                if levels and nodes is not None:
                    def inner(within):
                        return salient_regions(within, levels, pixel_nodes, nodes, thing_solidity)
                parts = split_pieces(lab, pixel_nodes, regions, surround_regions, surround, inner)
                if nodes is not None and alike > 0:
                    parts = merge_alike(parts, lab, pixel_nodes, nodes, alike)
                lab = parts
        elif solidity >= thing_solidity:
            scale = shape_anisotropy(mask, min_size) if anisotropy is None else anisotropy
            lab = split_touching(mask, scale)
            instances[mask] = lab[mask] + instances.max()
            z_scale = scale if z_scale is None else z_scale
            fate.append(f"objects (split with z scaled {scale:.2f})" if anisotropy is None
                        and mask.shape[0] > 1 else "objects")
        else:
            lab = mask.astype(np.int64)
            fate.append("one region")
        out[mask] = lab[mask] + offset
        offset = int(out.max())
    part = node_majority(pixel_nodes, out, int(pixel_nodes.max()) + 1)
    _, part = np.unique(part, return_inverse=True)
    return ObjectsLevel(part.astype(np.int64), fate, instances, 1.0 if z_scale is None else float(z_scale))


def split_pieces(pieces_: np.ndarray, pixel_nodes: np.ndarray, regions: np.ndarray,
                 surround_regions: np.ndarray | None = None, surround: float = 0.5,
                 inner_objects=None) -> np.ndarray:
    """The (Z, Y, X) pieces of a class (0 outside) cut along the nodes' `regions`, their
    connected parts labelled 1..n.

    A piece covering more than `surround` of the image is cut along `surround_regions`
    instead: compact regions keep an object that lies inside the surround whole, where
    connected regions often split it between its neighbours (and cuts through one
    homogeneous area are undone by :func:`merge_alike`). `inner_objects`, given the
    surround's nodes (a boolean mask), returns the objects inside it (node ids 1..k, 0
    elsewhere; :func:`~napari_cuts.standout.salient_regions`): each is cut out whole.
    """
    from skimage.measure import label

    inside = pieces_ > 0
    key = pieces_.astype(np.int64) * (int(regions.max()) + 1) + regions[pixel_nodes]
    if surround_regions is not None:
        sizes = np.bincount(pieces_.ravel())
        apart = int(surround_regions.max()) + 1
        piece_of = None
        for p in np.flatnonzero(sizes > surround * pieces_.size):
            piece = pieces_ == p
            if p == 0:
                continue
            key[piece] = -1 - surround_regions[pixel_nodes[piece]]  # apart from the other keys
            if inner_objects is not None:
                if piece_of is None:
                    labels = np.unique(pieces_)
                    piece_of = labels[node_majority(pixel_nodes, pieces_, len(surround_regions))]
                inner = inner_objects(piece_of == p)[pixel_nodes[piece]]
                key[piece] = np.where(inner > 0, -1 - apart - inner, key[piece])
    key = key - key.min() + 1
    key[~inside] = 0
    return label(key[0] if key.shape[0] == 1 else key, connectivity=1, background=0).reshape(key.shape)


def merge_alike(parts: np.ndarray, pieces_: np.ndarray, pixel_nodes: np.ndarray, nodes: NodeStats,
                alike: float) -> np.ndarray:
    """The `parts` of one piece joined where their mean points differ by less than `alike`
    times their spread (root mean square over the two): cuts through one homogeneous area
    undone, those around a distinct object kept. Parts that touch join so; parts that do
    not, only where each holds at least :data:`FAR_JOIN_MIN` of its piece: the parts of one
    kind (a tissue, a texture) that a level cut apart are put together again, small objects
    inside a surround that are alike each other (dim nuclei) stay apart."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_nodes = len(nodes.counts)
    k = int(parts.max()) + 1
    part_of = np.unique(parts)[node_majority(pixel_nodes, parts, n_nodes)]  # majority gives sorted indices
    piece_of = np.unique(pieces_)[node_majority(pixel_nodes, pieces_, n_nodes)]
    mu = nodes.means.astype(np.float64)
    centre, mass = pooled(part_of, mu, nodes.counts, minlength=k)
    deviation = nodes.spread + ((mu - centre[part_of]) ** 2).sum(1)
    spread = np.bincount(part_of, nodes.counts * deviation, minlength=k) / np.maximum(mass, 1e-12)
    piece_of_part = np.zeros(k, np.int64)
    piece_of_part[part_of] = piece_of
    large = mass >= FAR_JOIN_MIN * np.bincount(piece_of_part, mass)[piece_of_part]
    big = np.flatnonzero(large & (mass > 0) & (np.arange(k) > 0))  # at most 64 a piece
    a, b = (v.ravel() for v in np.meshgrid(big, big, indexing="ij"))
    far = (a < b) & (piece_of_part[a] == piece_of_part[b])
    touching = adjacency(part_of[pixel_nodes])[0]
    touching = touching[(touching[:, 0] > 0) & (piece_of_part[touching[:, 0]] == piece_of_part[touching[:, 1]])]
    pairs = np.unique(np.concatenate([np.stack([a[far], b[far]], 1), touching]), axis=0)
    if not len(pairs):
        return parts
    gap = ((centre[pairs[:, 0]] - centre[pairs[:, 1]]) ** 2).sum(1)
    join = pairs[gap < alike**2 * (spread[pairs[:, 0]] + spread[pairs[:, 1]]) / 2]
    graph = coo_matrix((np.ones(len(join)), (join[:, 0], join[:, 1])), shape=(k, k))
    _, root = connected_components(graph, directed=False)
    out = root[parts] + 1
    out[parts == 0] = 0
    return out
