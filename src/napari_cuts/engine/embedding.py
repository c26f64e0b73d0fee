"""Per-pixel CUTS vectors of a rectangle with its halo, and the tiles of an image (the
tiled loop over them is :meth:`napari_cuts.engine.session.ImageSession.embed_iter`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from napari_cuts.engine.encoder import RECEPTIVE_RADIUS, Encoder, default_device
from napari_cuts.formats.images import to_volume

#: Pixels per side of a tile's core; with the halo a tile is (core + 2 * 8)^2.
DEFAULT_TILE = 512


def _tiles(height: int, width: int, core: int) -> Iterator[tuple[slice, slice]]:
    for y in range(0, height, core):
        for x in range(0, width, core):
            yield slice(y, min(y + core, height)), slice(x, min(x + core, width))


def embed_region(
    encoder: Encoder,
    plane: np.ndarray,
    ys: slice,
    xs: slice,
    *,
    margin: int = 0,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Vectors of a rectangle of one (Y, X, C) plane, grown by `margin` (clipped).

    The rectangle is computed with a halo of the receptive radius, so its vectors equal
    those of whole-image inference. Returns the (h, w, D) vectors and the slices they cover.
    """
    height, width = plane.shape[:2]
    oys = slice(max(ys.start - margin, 0), min(ys.stop + margin, height))
    oxs = slice(max(xs.start - margin, 0), min(xs.stop + margin, width))
    halo = RECEPTIVE_RADIUS
    y0, y1 = max(oys.start - halo, 0), min(oys.stop + halo, height)
    x0, x1 = max(oxs.start - halo, 0), min(oxs.stop + halo, width)
    crop = encoder.normalization(plane[y0:y1, x0:x1])
    x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]
    device = torch.device(device) if device is not None else default_device()
    net = encoder.network.to(device).eval()
    with torch.inference_mode():
        out = net(x.to(device))[0].permute(1, 2, 0)
    out = out[oys.start - y0 : oys.stop - y0, oxs.start - x0 : oxs.stop - x0]
    return out.cpu().numpy(), (oys, oxs)


def tile_grid(shape: tuple[int, ...], tile_size: int = DEFAULT_TILE) -> list[tuple[int, slice, slice]]:
    """All (z, ys, xs) tiles of a (Z, Y, X, ...) volume."""
    z, height, width = shape[:3]
    return [(zi, ys, xs) for zi in range(z) for ys, xs in _tiles(height, width, tile_size)]


def n_tiles(volume_shape: tuple[int, ...], tile_size: int = DEFAULT_TILE) -> int:
    """How many tiles cover a (Z, Y, X, ...) volume."""
    z, h, w = volume_shape[:3]
    return z * (-(-h // tile_size)) * (-(-w // tile_size))


def embed(
    encoder: Encoder,
    image: np.ndarray,
    *,
    tile_size: int = DEFAULT_TILE,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    out_dim: int | None = None,
    device: torch.device | str | None = None,
    is_volume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """CUTS vectors of every pixel (through an :class:`~napari_cuts.engine.session.ImageSession`).

    Parameters
    ----------
    image : ndarray
        Any layout :func:`napari_cuts.formats.images.to_volume` accepts (or a volume with
        ``is_volume=True``).
    transform : callable, optional
        Applied to the (n, 128) vectors of each tile, e.g. a PCA projection to `out_dim`
        dimensions.

    Returns
    -------
    ndarray, float32, shape (Z, Y, X, D)
    """
    from napari_cuts.engine.session import ImageSession

    volume = image if is_volume else to_volume(image)
    session = ImageSession(encoder, volume, tile_size=tile_size, device=device)
    steps = session.embed_iter()
    while True:
        try:
            p = next(steps)
        except StopIteration as stop:
            vectors = stop.value
            break
        if progress is not None:
            progress(p.done, p.total)
    if transform is None:
        return vectors if session.store.in_memory else np.array(vectors)
    dim = out_dim or encoder.dim
    out = np.empty(volume.shape[:3] + (dim,), np.float32)
    for z, ys, xs in tile_grid(volume.shape, tile_size):
        vec = np.asarray(vectors[z, ys, xs])
        out[z, ys, xs] = transform(vec.reshape(-1, vec.shape[-1])).reshape(vec.shape[:2] + (-1,))
    session.store.close()
    return out
