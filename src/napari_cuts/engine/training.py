"""Self-supervised training of the CUTS encoder, as a generator that reports progress.

Each step samples anchor pixels in a batch of images, picks for every anchor a positive
pixel within +-patch_size whose patch is alike (SSIM above a threshold), and computes the
vectors of anchors and positives from their 17x17 receptive fields only ("valid"
convolutions on small crops), so a step costs the same whatever the image size. The loss
is ``lambda * NT-Xent + (1 - lambda) * MSE(patch reconstruction)``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from napari_cuts.config import TrainingConfig
from napari_cuts.engine.encoder import RECEPTIVE_RADIUS, Encoder, default_device, now_iso
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import Normalization, to_volume


@dataclass
class TrainingProgress:
    """What a training step reports."""

    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based, counted over all epochs
    total_steps: int
    loss: float
    contrastive: float
    reconstruction: float
    epoch_loss: float | None = None  # set on the last step of an epoch
    best_loss: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _slices(volumes: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [s for v in volumes for s in v]


def _ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM of patch vectors along the last axis (data range 1)."""
    c1, c2 = 0.01**2, 0.03**2
    ma, mb = a.mean(-1), b.mean(-1)
    va = a.var(-1, unbiased=False)
    vb = b.var(-1, unbiased=False)
    cov = ((a - ma[..., None]) * (b - mb[..., None])).mean(-1)
    return ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))


def nt_xent(anchors: torch.Tensor, positives: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over groups: (G, A, D) anchors and positives; negatives stay within a group."""
    g, a, _ = anchors.shape
    reps = F.normalize(torch.cat([anchors, positives], dim=1), dim=-1)  # (G, 2A, D)
    sim = reps @ reps.transpose(1, 2) / temperature
    eye = torch.eye(2 * a, dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(a, 2 * a), torch.arange(0, a)]).to(sim.device)
    return F.cross_entropy(sim.reshape(g * 2 * a, 2 * a), target.repeat(g))


class EncoderTrainer:
    """Trains an encoder; iterate :meth:`run` for progress, then call :meth:`result`.

    Stopping the iteration early (a GUI *Stop*) is safe: :meth:`result` returns the best
    weights seen so far (lowest mean loss over a finished epoch).
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        config: TrainingConfig | None = None,
        *,
        encoder: Encoder | None = None,
        device: torch.device | str | None = None,
        names: Sequence[str] | None = None,
        volumes: bool = False,
    ):
        self.config = config or TrainingConfig()
        if not len(images):
            raise CutsInputError("no images to train on")
        vols = list(images) if volumes else [to_volume(im) for im in images]
        n_channels = {v.shape[-1] for v in vols}
        if len(n_channels) != 1:
            raise CutsInputError(
                f"all training images need the same number of channels, got {sorted(n_channels)}"
            )
        cfg = self.config
        self.device = torch.device(device) if device is not None else default_device()
        if encoder is None:
            encoder = Encoder.create(
                n_channels.pop(), Normalization.fit(vols, seed=cfg.seed),
                base_channels=cfg.base_channels, patch_size=cfg.patch_size, seed=cfg.seed,
            )
        else:
            encoder.check_channels(n_channels.pop())
            if encoder.patch_size != cfg.patch_size:
                encoder = copy.deepcopy(encoder)
                encoder.decoder = type(encoder.decoder)(encoder.dim, encoder.in_channels, cfg.patch_size)
                encoder.patch_size = cfg.patch_size
        self.encoder = encoder
        self.names = list(names) if names else [f"{len(vols)} image(s)"]
        self.n_images = sum(len(v) for v in vols)
        # Pad each slice so that anchors, positives, patches and receptive fields fit.
        reach = cfg.patch_size if cfg.positives == "ssim" else max(cfg.positive_shift, cfg.patch_size // 2)
        self.margin = RECEPTIVE_RADIUS + reach + cfg.patch_size // 2 + 1
        self._images = [
            torch.from_numpy(
                np.pad(encoder.normalization(s), ((self.margin,) * 2, (self.margin,) * 2, (0, 0)),
                       mode="reflect" if min(s.shape[:2]) > self.margin else "edge").transpose(2, 0, 1).copy()
            )
            for s in _slices(vols)
        ]
        self._shapes = [s.shape[:2] for s in _slices(vols)]
        self._best: tuple[float, dict, dict] | None = None
        self._epochs_done = 0
        self.history: list[TrainingProgress] = []

    # ---- sampling ---------------------------------------------------------------
    def _crops(self, image: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, half: int) -> torch.Tensor:
        """(n, C, 2*half+1, 2*half+1) crops of `image` (C, H, W) centred on (ys, xs)."""
        offs = torch.arange(-half, half + 1)
        rows = (ys[:, None] + offs)[:, :, None]
        cols = (xs[:, None] + offs)[:, None, :]
        return image[:, rows, cols].permute(1, 0, 2, 3)

    def _augment(self, crops: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Random gain, offset and noise per crop, and random flips: what the vectors
        should not encode (brightness, orientation), so they encode texture and shape."""
        cfg = self.config
        n = crops.shape[0]
        if cfg.jitter:
            gain = torch.exp((torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * cfg.jitter)
            offset = (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * cfg.jitter / 2
            crops = crops * gain + offset
        if cfg.noise:
            crops = crops + torch.randn(crops.shape, generator=gen) * cfg.noise
        for axis in (-1, -2):
            flip = torch.rand(n, generator=gen) < 0.5
            crops[flip] = crops[flip].flip(axis)
        return crops

    def _sample_nearby(self, index: int, rng: np.random.Generator, gen: torch.Generator):
        """Anchors and positives up to `positive_shift` pixels away, each augmented."""
        cfg = self.config
        image = self._images[index]
        h, w = self._shapes[index]
        a, s = cfg.anchors_per_image, cfg.positive_shift
        ys = torch.from_numpy(rng.integers(0, h, a) + self.margin)
        xs = torch.from_numpy(rng.integers(0, w, a) + self.margin)
        py = ys + torch.from_numpy(rng.integers(-s, s + 1, a))
        px = xs + torch.from_numpy(rng.integers(-s, s + 1, a))
        r = RECEPTIVE_RADIUS
        anchors = self._crops(image, ys, xs, r)
        positives = self._crops(image, py, px, r)
        crops = torch.cat([self._augment(anchors.clone(), gen), self._augment(positives, gen)])
        patch = self._crops(image, ys, xs, cfg.patch_size // 2)
        return crops, patch

    def _sample(self, index: int, rng: np.random.Generator, gen: torch.Generator):
        cfg = self.config
        if cfg.positives == "nearby":
            return self._sample_nearby(index, rng, gen)
        image = self._images[index]
        h, w = self._shapes[index]
        a, p = cfg.anchors_per_image, cfg.patch_size
        ys = torch.from_numpy(rng.integers(0, h, a) + self.margin)
        xs = torch.from_numpy(rng.integers(0, w, a) + self.margin)
        # Every patch centred within +-p of the anchor, as (A, C*P*P, (2p+1)^2) columns.
        region = self._crops(image, ys, xs, p + p // 2)
        cols = F.unfold(region, kernel_size=p)
        centre = cols.shape[-1] // 2
        ssim = _ssim(cols.transpose(1, 2), cols[:, :, centre : centre + 1].transpose(1, 2))
        side = 2 * p + 1
        dy = torch.arange(side).repeat_interleave(side) - p
        dx = torch.arange(side).repeat(side) - p
        ok = ssim > cfg.ssim_threshold
        ok[:, centre] = False
        score = torch.rand(ok.shape, generator=gen) + ok.float()  # prefer alike patches
        choice = score.argmax(1)
        # Where no patch is alike enough: an adjacent pixel (never the anchor itself).
        near = (dy.abs() <= 1) & (dx.abs() <= 1) & ((dy != 0) | (dx != 0))
        near_choice = torch.multinomial(near.float().expand(a, -1), 1, generator=gen)[:, 0]
        choice = torch.where(ok.any(1), choice, near_choice)
        py, px = ys + dy[choice], xs + dx[choice]
        r = RECEPTIVE_RADIUS
        crops = torch.cat([self._crops(image, ys, xs, r), self._crops(image, py, px, r)])
        patch = cols[:, :, centre].view(a, image.shape[0], p, p)
        return crops, patch

    # ---- training ---------------------------------------------------------------
    def run(self) -> Iterator[TrainingProgress]:
        """Train, yielding a :class:`TrainingProgress` after every step."""
        previous = torch.get_num_threads()
        if self.config.threads > 0:
            torch.set_num_threads(self.config.threads)
        try:
            yield from self._steps()
        finally:
            torch.set_num_threads(previous)

    def _steps(self) -> Iterator[TrainingProgress]:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        net, dec = self.encoder.network.to(self.device), self.encoder.decoder.to(self.device)
        net.train()
        dec.train()
        params = list(net.parameters()) + list(dec.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        total = cfg.epochs * cfg.steps_per_epoch
        warmup = max(1, int(cfg.warmup_fraction * total))

        def lr_factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
        bs = cfg.batch_size
        order = np.array([], dtype=int)
        step = 0
        for epoch in range(1, cfg.epochs + 1):
            losses = []
            for _ in range(cfg.steps_per_epoch):
                while len(order) < bs:
                    order = np.concatenate([order, rng.permutation(self.n_images)])
                batch, order = order[:bs], order[bs:]
                samples = [self._sample(int(i), rng, gen) for i in batch]
                crops = torch.cat([c for c, _ in samples]).to(self.device)
                patches = torch.cat([p for _, p in samples]).to(self.device)
                z = net(crops, padding="valid").flatten(1)
                a = cfg.anchors_per_image
                z = z.view(len(batch), 2, a, -1)  # per image: anchors then positives
                za, zp = z[:, 0], z[:, 1]
                contrast = nt_xent(za, zp, cfg.temperature)
                recon = F.mse_loss(dec(za.reshape(-1, za.shape[-1])), patches)
                loss = cfg.contrastive_weight * contrast + (1 - cfg.contrastive_weight) * recon
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                losses.append(float(loss.detach()))
                progress = TrainingProgress(
                    epoch, cfg.epochs, step, total, losses[-1], float(contrast.detach()), float(recon.detach()),
                    best_loss=self._best[0] if self._best else None,
                )
                if len(losses) == cfg.steps_per_epoch:
                    progress.epoch_loss = float(np.mean(losses))
                    self._epochs_done = epoch
                    if self._best is None or progress.epoch_loss < self._best[0]:
                        self._best = (
                            progress.epoch_loss,
                            copy.deepcopy(net.state_dict()),
                            copy.deepcopy(dec.state_dict()),
                        )
                    progress.best_loss = self._best[0]
                self.history.append(progress)
                yield progress

    def result(self) -> Encoder:
        """The encoder with the best weights so far (the current ones before any epoch ends)."""
        enc = copy.deepcopy(self.encoder)
        if self._best is not None:
            enc.network.load_state_dict(self._best[1])
            enc.decoder.load_state_dict(self._best[2])
        enc.network.to("cpu").eval()
        enc.decoder.to("cpu").eval()
        enc.info = {
            "trained": self._epochs_done > 0 or bool(self.history),
            "trained_on": ", ".join(self.names),
            "n_images": self.n_images,
            "epochs": self._epochs_done,
            "best_loss": self._best[0] if self._best else None,
            "created": now_iso(),
            "config": asdict(self.config),
        }
        return enc


def fit_encoder(
    images: Sequence[np.ndarray],
    config: TrainingConfig | None = None,
    *,
    names: Sequence[str] | None = None,
    callback=None,
    device=None,
    volumes: bool = False,
) -> Encoder:
    """Train an encoder on `images` and return it; `callback(progress)` sees every step."""
    trainer = EncoderTrainer(images, config, names=names, device=device, volumes=volumes)
    for progress in trainer.run():
        if callback is not None:
            callback(progress)
    return trainer.result()
