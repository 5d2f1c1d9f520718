"""Chip-level figures of merit as DNN+NeuroSim reports them: FPS, TOPS, TOPS/W and TOPS/mm².

The identities (DNN+NeuroSim V1.4 user manual, §10 and Fig. 27; Moitra et al., SpikeSim, Eq. 5-7), for one
inference (one image) of a network of ``ops`` operations (a multiply-accumulate counts as 2):

* FPS      = 1 / latency
* TOPS     = ops / latency / 1e12
* TOPS/W   = ops / (dynamic energy + leakage energy) / 1e12 / zeta, with ``zeta`` NeuroSim's post-layout
  energy factor (1.23 in its "validated" mode, 1 otherwise)
* TOPS/mm² = TOPS / chip area (mm²)

:func:`network_operations` counts ``ops`` as NeuroSim does, from its per-layer network table.

The manual's example (VGG-8 on CIFAR-10, 8-bit, parallel 1T1R RRAM, 128x128 sub-arrays; Fig. 27):
``neurosim_metrics(network_operations(VGG8_CIFAR10), 1.45613e-3, 3.77518e-5, 1.15011e-6, 45.554, 1.23)`` gives
686.75 FPS, 0.845965 TOPS and 0.0185706 TOPS/mm² against the printed 686.75, 0.845963 and 0.0185705 (equal
within the rounding of the printed latency and area), and 25.744 TOPS/W against the printed 25.7176: the
printed energies imply a post-layout factor of 1.2313 rather than 1.23 (0.1 %). Table VII's TOPS/mm² are its
TOPS over its areas, truncated to two decimals, in all eight rows.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

#: VGG-8 for CIFAR-10 as NeuroSim's network table lists it: IFM height, width, channels, kernel height,
#: width, number of kernels (fully connected layers as 1x1 inputs with 1x1 kernels).
VGG8_CIFAR10: tuple[tuple[int, int, int, int, int, int], ...] = (
    (32, 32, 3, 3, 3, 128), (32, 32, 128, 3, 3, 128), (16, 16, 128, 3, 3, 256), (16, 16, 256, 3, 3, 256),
    (8, 8, 256, 3, 3, 512), (8, 8, 512, 3, 3, 512), (1, 1, 8192, 1, 1, 1024), (1, 1, 1024, 1, 1, 10))
#: NeuroSim's post-layout energy increase applied to TOPS/W in its "validated" mode.
ZETA_VALIDATED = 1.23


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} = {value!r}: it must be a finite number > 0.")
    return value


def network_operations(layers: Sequence[Sequence[int]]) -> float:
    """Operations of one inference, NeuroSim's count: ``2 * sum(H * W * C_in * K_h * K_w * C_out)`` over layers.

    Each layer is ``(ifm_height, ifm_width, channels, kernel_height, kernel_width, kernels)`` (extra
    columns, such as NeuroSim's pooling flag, are refused: pass the first six).

    Raises
    ------
    ValueError
        On an empty table, a layer without exactly six entries, or an entry that is not a positive integer.
    """
    if not layers:
        raise ValueError("the network table is empty: give one (H, W, C_in, K_h, K_w, C_out) row per layer.")
    total = 0
    for k, layer in enumerate(layers):
        if len(layer) != 6 or not all(isinstance(v, int) and v > 0 for v in layer):
            raise ValueError(f"layer {k} = {tuple(layer)!r}: give six positive integers "
                             "(ifm_height, ifm_width, channels, kernel_height, kernel_width, kernels).")
        total += math.prod(layer)
    return 2.0 * total


def fps(latency: float) -> float:
    """Frames (inferences) per second for a per-inference ``latency`` (s)."""
    return 1.0 / _positive("latency", latency)


def tops(ops: float, latency: float) -> float:
    """Throughput in tera-operations per second: ``ops`` in ``latency`` seconds."""
    return _positive("ops", ops) / _positive("latency", latency) / 1e12


def tops_per_watt(ops: float, dynamic_energy: float, leakage_energy: float = 0.0, zeta: float = 1.0) -> float:
    """Energy efficiency: ``ops`` per joule of dynamic plus leakage energy (J), in TOPS/W, divided by ``zeta``."""
    leakage = float(leakage_energy)
    if not (math.isfinite(leakage) and leakage >= 0):
        raise ValueError(f"leakage_energy = {leakage!r}: it must be a finite number >= 0 J.")
    energy = _positive("dynamic_energy", dynamic_energy) + leakage
    return _positive("ops", ops) / energy / 1e12 / _positive("zeta", zeta)


def tops_per_mm2(ops: float, latency: float, area_mm2: float) -> float:
    """Compute efficiency: :func:`tops` per mm² of chip area."""
    return tops(ops, latency) / _positive("area_mm2", area_mm2)


def neurosim_metrics(ops: float, latency: float, dynamic_energy: float, leakage_energy: float, area_mm2: float,
                     zeta: float = 1.0) -> Mapping[str, float]:
    """All four figures of merit of one inference.

    Parameters
    ----------
    ops
        Operations per inference (:func:`network_operations`).
    latency
        Per-inference latency (s).
    dynamic_energy, leakage_energy
        Per-inference energies (J).
    area_mm2
        Chip area (mm²).
    zeta
        Post-layout energy factor (:data:`ZETA_VALIDATED` in NeuroSim's validated mode).

    Returns
    -------
    dict
        ``fps``, ``tops``, ``tops_per_w``, ``tops_per_mm2``.
    """
    return {"fps": fps(latency), "tops": tops(ops, latency),
            "tops_per_w": tops_per_watt(ops, dynamic_energy, leakage_energy, zeta),
            "tops_per_mm2": tops_per_mm2(ops, latency, area_mm2)}


__all__ = ["VGG8_CIFAR10", "ZETA_VALIDATED", "fps", "network_operations", "neurosim_metrics", "tops",
           "tops_per_mm2", "tops_per_watt"]
