"""The CUTS encoder: four 5x5 convolutions at full resolution, and its file format."""

from __future__ import annotations

import datetime as _dt
import io as _io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import Normalization
from napari_cuts.formats.writing import atomic_write

FORMAT_VERSION = 1
FORMAT_NAME = "napari-cuts encoder"
#: Allowed values of the architecture fields of an encoder file (checked before anything
#: is built); the training bounds of TrainingConfig lie within them.
ARCHITECTURE = {"in_channels": (1, 1024), "base_channels": (1, 256), "patch_size": (1, 63)}
#: Encoder files above these sizes are refused before they are read or built.
MAX_PARAMETERS = 50_000_000
MAX_FILE_BYTES = 1 << 30
KERNEL_SIZE = 5
N_LAYERS = 4
#: Pixels on each side of a pixel that its vector depends on (17x17 receptive field).
RECEPTIVE_RADIUS = N_LAYERS * (KERNEL_SIZE // 2)


def default_device() -> torch.device:
    """CUDA or MPS when present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class ConvEncoder(nn.Module):
    """Four 5x5 conv layers (k, 2k, 4k, 8k channels), batch norm and leaky ReLU.

    With ``padding="same"`` (inference) the output has the input's size, using replicate
    padding; with ``padding="valid"`` (training on crops) each layer shrinks the crop by 4.
    """

    def __init__(self, in_channels: int, base_channels: int = 16):
        super().__init__()
        widths = [in_channels] + [base_channels * 2**i for i in range(N_LAYERS)]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, KERNEL_SIZE, padding=0) for a, b in zip(widths[:-1], widths[1:])
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        self.act = nn.LeakyReLU(0.01)
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor, padding: str = "same") -> torch.Tensor:
        pad = KERNEL_SIZE // 2
        # Inference: batch norm folded into the convolution and the activation in place
        # (the same function, one pass over each layer's output instead of three).
        inference = not self.training and not torch.is_grad_enabled()
        for conv, norm in zip(self.convs, self.norms):
            if padding == "same":
                x = nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
            if inference:
                x = nn.functional.leaky_relu(nn.functional.conv2d(x, *folded(conv, norm)),
                                             self.act.negative_slope, inplace=True)
            else:
                x = self.act(norm(conv(x)))
        return x


def folded(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of `conv` followed by `norm` in evaluation mode, as one convolution."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    return conv.weight * scale[:, None, None, None], (bias - norm.running_mean) * scale + norm.bias


class PatchDecoder(nn.Module):
    """Two linear layers that reconstruct a pixel's patch from its vector (training only)."""

    def __init__(self, dim: int, in_channels: int, patch_size: int, hidden: int = 256):
        super().__init__()
        self.shape = (in_channels, patch_size, patch_size)
        self.layers = nn.Sequential(
            nn.Linear(dim, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, int(np.prod(self.shape)))
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z).view(-1, *self.shape)


@dataclass
class Encoder:
    """A CUTS encoder with everything needed to use it on new images."""

    network: ConvEncoder
    decoder: PatchDecoder
    normalization: Normalization
    in_channels: int
    base_channels: int = 16
    patch_size: int = 5
    info: dict = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        in_channels: int,
        normalization: Normalization,
        *,
        base_channels: int = 16,
        patch_size: int = 5,
        seed: int = 0,
    ) -> Encoder:
        """A new, untrained encoder with seeded initial weights."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = ConvEncoder(in_channels, base_channels)
            decoder = PatchDecoder(network.out_channels, in_channels, patch_size)
        return cls(network, decoder, normalization, in_channels, base_channels, patch_size,
                   {"trained": False})

    @property
    def dim(self) -> int:
        return self.network.out_channels

    def check_channels(self, n_channels: int) -> None:
        """Refuse images whose channel count differs from the training images'."""
        if n_channels != self.in_channels:
            raise CutsInputError(
                f"this encoder was trained on images with {self.in_channels} channel(s), "
                f"but the image has {n_channels}; train a new encoder for this image"
            )

    def describe(self) -> str:
        """One line for people: channels, training data and date."""
        info = self.info
        if not info.get("trained"):
            return f"untrained encoder ({self.in_channels} channel(s))"
        return (
            f"{self.in_channels} channel(s), trained on {info.get('trained_on', '?')} "
            f"for {info.get('epochs', '?')} epochs, {info.get('created', '?')}"
        )

    def state(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "in_channels": self.in_channels,
            "base_channels": self.base_channels,
            "patch_size": self.patch_size,
            "normalization": self.normalization.to_dict(),
            "info": dict(self.info),
            "network": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "decoder": {k: v.detach().cpu() for k, v in self.decoder.state_dict().items()},
        }


def save_encoder(encoder: Encoder, path: str | os.PathLike) -> Path:
    """Save weights, architecture, normalisation and format version in one file.

    The file is serialised in memory first and then written atomically, so a failed
    write (full disk, permissions) raises a one-line CutsWriteError naming `path` and
    leaves nothing behind.
    """
    path = Path(path)
    buffer = _io.BytesIO()
    torch.save(encoder.state(), buffer)
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        fh.write(buffer.getbuffer())
    return path


class _NotAnEncoder(Exception):
    """Why a file is not a napari-cuts encoder file (becomes one line)."""


def _whole(state: dict, key: str, low: int, high: int) -> int:
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _NotAnEncoder(f"'{key}' must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise _NotAnEncoder(f"'{key}' is {value}, outside {low}..{high}")
    return value


def _normalization(data, n_channels: int) -> Normalization:
    if not isinstance(data, dict) or set(data) != {"low", "high"}:
        raise _NotAnEncoder("'normalization' must hold 'low' and 'high'")
    values = []
    for key in ("low", "high"):
        v = data[key]
        if not isinstance(v, list) or len(v) != n_channels or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v):
            raise _NotAnEncoder(f"normalisation '{key}' must be {n_channels} finite number(s)")
        values.append(np.asarray(v, np.float32))
    if not np.all(values[1] > values[0]):
        raise _NotAnEncoder("the normalisation's intensity span must be positive")
    return Normalization(*values)


def _check_weights(name: str, weights, expected: dict[str, torch.Tensor]) -> None:
    """`weights` must have exactly the expected tensors: names, shapes, kinds, finite."""
    if not isinstance(weights, dict):
        raise _NotAnEncoder(f"'{name}' must hold tensors")
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        which = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise _NotAnEncoder(f"'{name}' does not match the architecture ({which})")
    for key, want in expected.items():
        got = weights[key]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise _NotAnEncoder(f"'{name}.{key}' should have shape {tuple(want.shape)}, not {shape}")
        if got.is_floating_point() != want.is_floating_point() or got.is_complex():
            raise _NotAnEncoder(f"'{name}.{key}' has the wrong kind of numbers ({got.dtype})")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise _NotAnEncoder(f"'{name}.{key}' holds NaN or infinite weights")
        if key.endswith("running_var") and bool((got < 0).any()):
            raise _NotAnEncoder(f"'{name}.{key}' holds negative variances")


def validate_encoder_state(state) -> dict:
    """Check a loaded encoder file before anything is built; return Encoder.create's arguments.

    Checks keys, types, the architecture fields against :data:`ARCHITECTURE`, the size of
    the network it describes, the normalisation, and that the weights are exactly the
    tensors :meth:`Encoder.create` would make for that architecture, all finite.
    Raises _NotAnEncoder with the reason.
    """
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise _NotAnEncoder("no napari-cuts format tag")
    version = state.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _NotAnEncoder("'format_version' must be a whole number from 1")
    if version > FORMAT_VERSION:
        raise CutsInputError(
            f"it was written by a newer napari-cuts (format {version}); please upgrade")
    arch = {key: _whole(state, key, *bounds) for key, bounds in ARCHITECTURE.items()}
    if arch["patch_size"] % 2 == 0:
        raise _NotAnEncoder("'patch_size' must be odd")
    normalization = _normalization(state.get("normalization"), arch["in_channels"])
    if not isinstance(state.get("info", {}), dict):
        raise _NotAnEncoder("'info' must be a table")
    with torch.device("meta"):  # shapes only: nothing is allocated
        skeleton = Encoder.create(arch["in_channels"], normalization,
                                  base_channels=arch["base_channels"], patch_size=arch["patch_size"])
    parts = {"network": skeleton.network.state_dict(), "decoder": skeleton.decoder.state_dict()}
    n_parameters = sum(t.numel() for part in parts.values() for t in part.values())
    if n_parameters > MAX_PARAMETERS:
        raise _NotAnEncoder(f"its architecture has {n_parameters:,} weights "
                            f"(at most {MAX_PARAMETERS:,} are allowed)")
    for name, expected in parts.items():
        _check_weights(name, state.get(name), expected)
    return {"normalization": normalization, **arch}


def load_encoder(path: str | os.PathLike) -> Encoder:
    """Load an encoder file without executing code (``weights_only=True``).

    The file is checked (:func:`validate_encoder_state`) before anything is built;
    anything else is refused in one line as not a napari-cuts encoder file.
    """
    path = Path(path)
    if not path.is_file():
        raise CutsInputError(f"no such encoder file: {path}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CutsInputError(f"{path} is not a napari-cuts encoder file "
                             f"({size / 1e9:.1f} GB, larger than any encoder)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CutsInputError(f"{path} is not a napari-cuts encoder file ({exc.__class__.__name__})") from None
    try:
        args = validate_encoder_state(state)
    except _NotAnEncoder as exc:
        raise CutsInputError(f"{path} is not a napari-cuts encoder file: {exc}") from None
    except CutsInputError as exc:
        raise CutsInputError(f"{path}: {exc}") from None
    normalization = args.pop("normalization")
    in_channels = args.pop("in_channels")
    encoder = Encoder.create(in_channels, normalization, **args)
    encoder.network.load_state_dict(state["network"])
    encoder.decoder.load_state_dict(state["decoder"])
    encoder.info = dict(state.get("info", {}))
    encoder.info.setdefault("path", str(path))
    return encoder


def now_iso() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")
