"""A tiny spiking CNN whose first layer is the P²M MAC, trained at f1/f2 noise 0 / 10 / 20 / 40 % and fitted σ.

The study ``p2m-train`` (:mod:`fitting.mdwmtj.studies`; ``spicegen study run p2m-train``, about two
minutes of one core) runs it; this module needs the optional torch extra.

- f1/f2: the shipped extractions from the ngspice P²M Monte Carlo (package data: ``f1_<config>.json``
  and the nominal Δq in ``summary.json`` of ``p2m-f1``, ``f2_lower.json`` of ``p2m-f2``), brought into
  the layer's units by :func:`fitting.mdwmtj.f1f2.layer_f1`.
- Data: synthetic event-camera clips generated here (no download): one of four outlines (square,
  plus, cross, ring) drifting across a 24×24 sensor; ON/OFF events where a pixel turns on/off
  between frames, plus background-activity noise events. 16 time bins = 4 integration windows.
- Network: :class:`~fitting.mdwmtj.layer.P2MLayer` (2 → 8 channels, 3×3, stride 2), a 3×3 convolution
  with batch norm into leaky integrate-and-fire neurons, global average pooling and a linear read-out
  averaged over windows.
- Hardware awareness: f1/f2 variation injected during training at each noise level (the P²M
  paper's Table 1, multiplicative Gaussian), and once with f1's Monte-Carlo σ(x) (``"fitted"``, f2
  without noise: its extraction is a worst-case bound, not a distribution); the test accuracy is
  measured with the same noise on (inference on noisy hardware) and off.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spicegen.figures import pyplot, save_figure

from fitting.export import Noise
from fitting.mdwmtj.f1f2 import P2mF1Extraction, P2mF2Extraction, layer_f1
from fitting.mdwmtj.layer import P2MLayer, spike
from fitting.surrogate import Surrogate

SHAPES = ("square", "plus", "cross", "ring")
SIZE = 24
"""Sensor side (pixels)."""
BINS, WINDOW = 16, 4
"""Time bins per clip and bins per integration window."""
BATCH = 64
"""Clips per optimiser step."""
LR, LR_THRESHOLD = 5e-3, 3e-4
"""Adam learning rates: weights; P²M thresholds (V_pre moves by only a few % of its range)."""


def _outline(shape: str, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    ax, ay = np.abs(dx), np.abs(dy)
    if shape == "square":
        edge = np.maximum(ax, ay)
        return (edge <= r) & (edge > r - 1.6)
    if shape == "plus":
        return ((ax < 1.0) & (ay <= r)) | ((ay < 1.0) & (ax <= r))
    if shape == "cross":
        return (np.abs(ax - ay) < 1.2) & (np.maximum(ax, ay) <= r)
    return np.abs(np.hypot(dx, dy) - r) < 1.0


def make_events(n: int, rng: np.random.Generator, noise_rate: float = 0.003) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clips ``(n, BINS, 2, SIZE, SIZE)`` of 0/1 ON/OFF events and their labels, drawn from ``rng``."""
    labels = rng.integers(0, len(SHAPES), n)
    radius = rng.uniform(4.5, 7.0, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    speed = rng.uniform(0.5, 1.0, n)
    start = rng.uniform(9, SIZE - 9, (n, 2)) - (BINS / 2) * speed[:, None] * np.c_[np.cos(angle), np.sin(angle)]
    t = np.arange(BINS + 1)
    cx = start[:, 0, None] + speed[:, None] * np.cos(angle)[:, None] * t  # (n, BINS+1)
    cy = start[:, 1, None] + speed[:, None] * np.sin(angle)[:, None] * t
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    frames = np.zeros((n, BINS + 1, SIZE, SIZE), dtype=bool)
    for k, shape in enumerate(SHAPES):
        idx = np.flatnonzero(labels == k)
        dx = xx[None, None] - cx[idx, :, None, None]
        dy = yy[None, None] - cy[idx, :, None, None]
        frames[idx] = _outline(shape, dx, dy, radius[idx, None, None, None])
    on = frames[:, 1:] & ~frames[:, :-1]
    off = frames[:, :-1] & ~frames[:, 1:]
    events = np.stack([on, off], axis=2)
    events |= rng.random(events.shape) < noise_rate
    return events.astype(np.uint8), labels


class SpikingNet(nn.Module):
    """P²M layer → conv + batch norm + LIF → global average pool → linear read-out averaged over the windows."""

    def __init__(self, f1: Surrogate, f2: Surrogate, noise: Noise, track: float, beta: float = 0.8) -> None:
        super().__init__()
        fitted = noise == "fitted"
        self.p2m = P2MLayer(f1, f2, in_channels=2, out_channels=8, window=WINDOW, capacity=track,
                            noise=0.0 if fitted else noise)
        if fitted:  # f1's Monte-Carlo σ(x); f2 is a worst-case bound without a distribution
            self.p2m.f1.noise = "fitted"
        self.conv = nn.Conv2d(8, 32, 3, padding=1)
        self.norm = nn.BatchNorm2d(32)
        self.readout = nn.Linear(32, len(SHAPES))
        self.beta = beta

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        spikes = self.p2m(events)
        batch, windows = spikes.shape[:2]
        drive = self.norm(self.conv(spikes.flatten(0, 1)))  # all windows in one call
        drive = drive.reshape(batch, windows, *drive.shape[1:])
        membrane = torch.zeros_like(drive[:, 0])
        out = []
        for step in drive.unbind(dim=1):
            membrane = self.beta * membrane + step
            fired = spike(membrane - 1.0)
            membrane = membrane - fired
            out.append(fired.mean(dim=(2, 3)))  # global average pool: position-invariant
        return self.readout(torch.stack(out, dim=1)).mean(dim=1)


def accuracy(net: SpikingNet, events: torch.Tensor, labels: torch.Tensor, noisy: bool) -> float:
    """Test accuracy with the hardware noise on or off."""
    net.eval()
    net.p2m.noise_at_eval = noisy
    with torch.no_grad():
        hits = sum(int((net(events[i:i + 100]).argmax(1) == labels[i:i + 100]).sum())
                   for i in range(0, len(labels), 100))
    net.p2m.noise_at_eval = False
    return hits / len(labels)


def train_level(f1: Surrogate, f2: Surrogate, level: Noise, track: float, data: tuple, epochs: int,
                seed: int) -> dict[str, float]:
    """Train at one noise level (torch seeded with ``seed``); test accuracies with and without noise."""
    torch.set_num_threads(1)  # the tensors are small: threads only add synchronisation
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    net = SpikingNet(f1, f2, level, track).float()  # float32 surrogates too: speed
    others = [p for name, p in net.named_parameters() if name != "p2m.threshold"]
    optimiser = torch.optim.Adam([{"params": others}, {"params": [net.p2m.threshold], "lr": LR_THRESHOLD}], lr=LR)
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(y_train))
        for i in range(0, len(order), BATCH):
            batch = order[i:i + BATCH]
            loss = F.cross_entropy(net(x_train[batch]), y_train[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    torch.manual_seed(seed + 1)
    return {"noise": level, "test_accuracy_noisy": accuracy(net, x_test, y_test, noisy=True),
            "test_accuracy_clean": accuracy(net, x_test, y_test, noisy=False),
            "train_seconds": time.perf_counter() - start}


def tensors(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> tuple:
    """``(x_train, y_train, x_test, y_test)`` as torch tensors (events as float)."""
    return (torch.from_numpy(train[0]).float(), torch.from_numpy(train[1]),
            torch.from_numpy(test[0]).float(), torch.from_numpy(test[1]))


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Accuracy vs relative noise level as a PNG; the fitted-σ run as a separate line."""
    plt = pyplot()

    relative = [r for r in rows if r["noise"] != "fitted"]
    levels = [100 * r["noise"] for r in relative]
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    ax.plot(levels, [100 * r["test_accuracy_noisy"] for r in relative], "o-", label="test with f1/f2 noise")
    ax.plot(levels, [100 * r["test_accuracy_clean"] for r in relative], "s--", label="test without noise")
    for r in rows:
        if r["noise"] == "fitted":
            ax.axhline(100 * r["test_accuracy_noisy"], color="C2", ls=":",
                       label=f"f1 with its Monte-Carlo σ(x): {100 * r['test_accuracy_noisy']:.1f} %")
    ax.set_xlabel("f1/f2 noise (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xticks(levels)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)


def shipped_surrogates(config: str) -> tuple[Surrogate, Surrogate, float, str]:
    """The shipped f1 of ``config`` in layer units, the shipped f2 lower bound, the capacity, and a note on
    their origin (package data of the extractions ``p2m-f1`` and ``p2m-f2``).

    Raises
    ------
    FileNotFoundError
        If a shipped file is missing (regenerate it with ``spicegen extract p2m-f1 p2m-f2 --ship``).
    """
    f1_folder, f2_folder = P2mF1Extraction().shipped(), P2mF2Extraction().shipped()
    paths = [f1_folder / f"f1_{config}.json", f2_folder / "f2_lower.json", f1_folder / "summary.json"]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing shipped extraction(s) {missing}; regenerate them with "
                                "'spicegen extract p2m-f1 p2m-f2 --studies ROOT --ship'.")
    f1, f2 = Surrogate.load(paths[0]), Surrogate.load(paths[1])
    nominal = json.loads(paths[2].read_text())["f1"][config]["nominal_m"]
    layer, track = layer_f1(f1, np.asarray(nominal))
    note = (f"f1/f2: shipped ngspice Monte Carlo extractions (f1_{config} [{f1.provenance.form}, "
            f"sigma {f1.variation.provenance.form}], f2_lower [{f2.provenance.form}]); data hashes "
            f"{f1.provenance.dataset_hash}, {f2.provenance.dataset_hash}")
    return layer, f2, track, note
