"""Hardware-aware accuracy of a spiking CNN whose first layer is the P²M MAC, at f1/f2 noise 0 / 10 / 20 / 40 %.

The study ``p2m-accuracy`` (:mod:`fitting.mdwmtj.studies`; ``spicegen study run p2m-accuracy``, a few
minutes of one core) runs it; this module needs the optional torch extra (torch, scikit-learn).

- f1/f2: the shipped extractions from the ngspice P²M Monte Carlo (package data: ``f1_<config>.json``
  and the nominal Δq in ``summary.json`` of ``p2m-f1``, ``f2_lower.json`` of ``p2m-f2``), brought into
  the layer's units by :func:`fitting.mdwmtj.f1f2.layer_f1`.
- Data: scikit-learn's digits recorded as N-MNIST-like event clips by a simulated event camera in
  three saccades (:mod:`fitting.mdwmtj.saccades`); one integration window per saccade.
- Network (a small version of the paper's: convolutions with batch norm, LIF and max pooling, then a
  linear read-out): first layer (P²M, or :class:`~fitting.mdwmtj.layer.IdealLayer` for the
  baseline without custom functions; 2 → ``channels``, 3×3, stride 2), two 3×3 convolutions of 32
  channels each with batch norm, leaky integrate-and-fire neurons and 2×2 max pooling, and a linear
  read-out averaged over the windows.
- Hardware awareness (the paper's Table 1): f1/f2 variation injected in training at each relative
  noise level (multiplicative Gaussian, :mod:`fitting.mdwmtj.layer`), and once with f1's Monte-Carlo
  σ(x) (``"fitted"``; f2 without noise: its extraction is a worst-case bound, not a distribution).
  Test accuracy with the same noise on (inference on noisy hardware) and off.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spicegen.figures import pyplot, save_figure

from fitting.export import Noise
from fitting.mdwmtj.f1f2 import P2mF1Extraction, P2mF2Extraction, layer_f1
from fitting.mdwmtj.layer import IdealLayer, P2MLayer, spike
from fitting.surrogate import Surrogate

Level = Noise | str
"""A row of the table: ``"baseline"`` (no custom functions), a relative noise level, or ``"fitted"``."""
BATCH = 64
"""Clips per optimiser step."""
LR, LR_THRESHOLD = 5e-3, 3e-4
"""Adam learning rates: weights (and the baseline's thresholds); P²M thresholds (V_pre moves by only a
few % of its range)."""
CLASSES = 10


def lif(drive: torch.Tensor, beta: float) -> torch.Tensor:
    """Spikes of leaky integrate-and-fire neurons (threshold 1, reset by subtraction) driven by ``(batch, T, ...)``."""
    membrane = torch.zeros_like(drive[:, 0])
    out = []
    for step in drive.unbind(dim=1):
        membrane = beta * membrane + step
        fired = spike(membrane - 1.0)
        membrane = membrane - fired
        out.append(fired)
    return torch.stack(out, dim=1)


class SpikingNet(nn.Module):
    """First layer → 2 × (3×3 conv + batch norm + LIF + 2×2 max pool) → linear read-out averaged over windows."""

    def __init__(self, first: P2MLayer | IdealLayer, side: int, beta: float = 0.8) -> None:
        super().__init__()
        self.first = first
        channels = first.weight.shape[0]
        self.convs = nn.ModuleList([nn.Conv2d(channels, 32, 3, padding=1), nn.Conv2d(32, 32, 3, padding=1)])
        self.norms = nn.ModuleList([nn.BatchNorm2d(32), nn.BatchNorm2d(32)])
        pooled = (side + 1) // 2 // 4  # stride 2, then two 2×2 poolings
        self.readout = nn.Linear(32 * pooled * pooled, CLASSES)
        self.beta = beta

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        x = self.first(events)
        batch, windows = x.shape[:2]
        for conv, norm in zip(self.convs, self.norms):
            drive = norm(conv(x.flatten(0, 1)))  # all windows in one call
            x = lif(drive.reshape(batch, windows, *drive.shape[1:]), self.beta)
            x = F.max_pool2d(x.flatten(0, 1), 2)
            x = x.reshape(batch, windows, *x.shape[1:])
        return self.readout(x.flatten(2)).mean(dim=1)


def first_layer(level: Level, f1: Surrogate, f2: Surrogate, track: float, channels: int,
                window: int) -> P2MLayer | IdealLayer:
    """The first layer of one table row (see :data:`Level`)."""
    if level == "baseline":
        return IdealLayer(in_channels=2, out_channels=channels, window=window)
    fitted = level == "fitted"
    layer = P2MLayer(f1, f2, in_channels=2, out_channels=channels, window=window, capacity=track,
                     noise=0.0 if fitted else level)
    if fitted:  # f1's Monte-Carlo σ(x); f2 is a worst-case bound without a distribution
        layer.f1.noise = "fitted"
    return layer


def accuracy(net: SpikingNet, events: torch.Tensor, labels: torch.Tensor, noisy: bool) -> float:
    """Test accuracy with the hardware noise on or off (the baseline has none)."""
    net.eval()
    if isinstance(net.first, P2MLayer):
        net.first.noise_at_eval = noisy
    with torch.no_grad():
        hits = sum(int((net(events[i:i + 100].float()).argmax(1) == labels[i:i + 100]).sum())
                   for i in range(0, len(labels), 100))
    if isinstance(net.first, P2MLayer):
        net.first.noise_at_eval = False
    return hits / len(labels)


def train_row(level: Level, surrogates: tuple[Surrogate, Surrogate, float], data: Sequence[torch.Tensor], *,
              epochs: int, channels: int, window: int, seed: int) -> dict[str, Any]:
    """Train one row at one seed (torch seeded with ``seed``: the same initial weights for every row) and
    test it with the noise on and off."""
    torch.set_num_threads(1)  # small tensors: threads only add synchronisation (and the cores are shared)
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    first = first_layer(level, *surrogates, channels, window)
    net = SpikingNet(first, x_train.shape[-1]).float()  # float32 surrogates too: speed
    others = [p for name, p in net.named_parameters() if name != "first.threshold"]
    rate = LR_THRESHOLD if isinstance(first, P2MLayer) else LR
    optimiser = torch.optim.Adam([{"params": others}, {"params": [first.threshold], "lr": rate}], lr=LR)
    steps = epochs * -(-len(y_train) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=[LR, rate], total_steps=steps)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(y_train))
        for i in range(0, len(order), BATCH):
            batch = order[i:i + BATCH]
            loss = F.cross_entropy(net(x_train[batch].float()), y_train[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    torch.manual_seed(seed + 1)
    noisy = accuracy(net, x_test, y_test, noisy=True)
    clean = accuracy(net, x_test, y_test, noisy=False)
    return {"row": level, "seed": seed, "test_accuracy_noisy": noisy, "test_accuracy_clean": clean,
            "first_layer_rate": first_layer_rate(net, x_test)}


def first_layer_rate(net: SpikingNet, events: torch.Tensor) -> float:
    """First-layer output spikes per input event on ``events`` (noise off): the bandwidth the layer leaves."""
    net.eval()
    with torch.no_grad():
        out = sum(float(net.first(events[i:i + 100].float()).sum()) for i in range(0, len(events), 100))
    return out / float(events.sum())


def tensors(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> list[torch.Tensor]:
    """``[x_train, y_train, x_test, y_test]`` as torch tensors (event counts stay uint8 until a batch is used)."""
    return [torch.from_numpy(a) for a in (x_train, y_train, x_test, y_test)]


def summarize(rows: list[dict[str, Any]], levels: Sequence[Level]) -> list[dict[str, Any]]:
    """Per table row: mean and sample σ over the seeds of the noisy and clean accuracy (%), the drop
    from the baseline (``drop``) and from the P²M layer at noise 0 (``noise_drop``), paired by seed (points)."""
    def values(level: Level, key: str = "test_accuracy_noisy") -> np.ndarray:
        return np.array([100 * r[key] for r in rows if r["row"] == level])

    table = []
    for level in levels:
        noisy, clean = values(level), values(level, "test_accuracy_clean")
        entry = {"row": level, "seeds": len(noisy), **_stats("noisy", noisy), **_stats("clean", clean)}
        for name, reference in (("drop", "baseline"), ("noise_drop", 0.0)):
            if reference in levels and level != "baseline":
                entry.update(_stats(name, values(reference) - noisy))
        table.append(entry)
    return table


def _stats(name: str, x: np.ndarray) -> dict[str, float]:
    return {f"{name}_mean": float(x.mean()), f"{name}_std": float(x.std(ddof=1)) if len(x) > 1 else float("nan")}


def label(level: Level) -> str:
    """Row name as in the table: baseline, 0 %, 10 %, ..., fitted σ."""
    if level == "baseline":
        return "baseline"
    return "fitted σ(x)" if level == "fitted" else f"{100 * level:g} %"


def plot(table: list[dict[str, Any]], paper: dict[str, list[float]], path: Any, title: str) -> Any:
    """Left: test accuracy (mean ± σ over seeds) per row; right: drop from the baseline beside the paper's Table 1."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.0))
    names = [label(r["row"]) for r in table]
    x = np.arange(len(table))
    left.errorbar(x - 0.08, [r["noisy_mean"] for r in table], [r["noisy_std"] for r in table], fmt="o",
                  capsize=3, label="tested with the noise on")
    left.errorbar(x + 0.08, [r["clean_mean"] for r in table], [r["clean_std"] for r in table], fmt="s",
                  capsize=3, mfc="none", label="tested with the noise off")
    left.set_xticks(x, names)
    left.set_xlabel("first layer: baseline, or P²M with f1/f2 noise")
    left.set_ylabel("test accuracy (%)")
    left.legend(fontsize=8)
    relative = [r for r in table if r["row"] not in ("baseline", "fitted")]
    levels = [100 * r["row"] for r in relative]
    right.errorbar(levels, [r["drop_mean"] for r in relative], [r["drop_std"] for r in relative], fmt="o-",
                   capsize=3, color="k", label="ours (digit saccade clips)")
    for dataset, accuracies in paper.items():
        right.plot(levels, [accuracies[0] - a for a in accuracies[1:]], "--", marker=".", label=f"paper, {dataset}")
    right.set_xticks(levels)
    right.set_xlabel("f1/f2 noise (%)")
    right.set_ylabel("accuracy drop from the baseline (points)")
    right.axhline(0, color="0.7", lw=0.8)
    right.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
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
