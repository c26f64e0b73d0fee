"""The CUTS encoder: four 5x5 convolutions at full resolution, and its file format."""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .io import CutsInputError, Normalization, atomic_write

FORMAT_VERSION = 1
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
        for conv, norm in zip(self.convs, self.norms):
            if padding == "same":
                x = nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
            x = self.act(norm(conv(x)))
        return x


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
    ) -> "Encoder":
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
            "format": "napari-cuts encoder",
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
    """Save weights, architecture, normalisation and format version in one file."""
    path = Path(path)
    with atomic_write(path) as tmp:
        torch.save(encoder.state(), tmp)
    return path


def load_encoder(path: str | os.PathLike) -> Encoder:
    """Load an encoder file without executing code (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CutsInputError(f"no such encoder file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CutsInputError(f"{path} is not a napari-cuts encoder file ({exc.__class__.__name__})") from None
    if not isinstance(state, dict) or state.get("format") != "napari-cuts encoder":
        raise CutsInputError(f"{path} is not a napari-cuts encoder file")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CutsInputError(
            f"{path} was written by a newer napari-cuts (format {state['format_version']}); "
            "please upgrade"
        )
    encoder = Encoder.create(
        int(state["in_channels"]),
        Normalization.from_dict(state["normalization"]),
        base_channels=int(state["base_channels"]),
        patch_size=int(state["patch_size"]),
    )
    try:
        encoder.network.load_state_dict(state["network"])
        encoder.decoder.load_state_dict(state["decoder"])
    except RuntimeError as exc:
        raise CutsInputError(f"{path} has weights that do not fit its architecture: {exc}") from None
    encoder.info = dict(state.get("info", {}))
    encoder.info.setdefault("path", str(path))
    return encoder


def now_iso() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")
