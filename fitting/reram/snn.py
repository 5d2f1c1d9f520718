"""A small LIF spiking network whose layers run on ReRAM crossbars with IR drop and read noise (study ``snn-nonideal``).

The miniature of Fig. 10a of Moitra et al., "When In-memory Computing Meets Spiking Neural Networks"
(SpikeSim setting, their Table III: 64x64 RRAM crossbars, R_on = 20 kΩ, on/off 10, 4-bit devices,
0.1 V read; non-idealities r_par = 5 Ω wire segments and Gaussian read noise σ = 0.1):

- Data: scikit-learn's 8x8 digits (shipped with the package, no download), pixels / 16 in [0, 1], so the
  64 pixels drive the 64 rows of one crossbar. ``encoding`` (:data:`ENCODINGS`): ``rate``, the probability
  of an input spike per timestep (Poisson rate code), or ``direct``, the intensities themselves at every
  timestep (the direct encoding of the BPTT-trained SNNs the paper evaluates): the first crossbar's rows
  then carry multi-bit voltages through a DAC of ``input_bits`` and it sees the same input at every read.
- Network: 64 → ``depth`` layers of ``hidden`` LIF neurons (batch norm on the crossbar output unless
  ``batch_norm`` is off, leak ``leak``, threshold 1, reset by subtraction) → 10 read-out columns whose
  outputs are accumulated over the timesteps (the membrane of a non-firing last layer, as in SpikeSim's
  networks). One
  network is trained per number of timesteps T (BPTT, fast-sigmoid surrogate gradient), ideally in
  floating point, as the paper's SNNs are.
- Hardware: every weight matrix is scaled by its largest |w| and quantized to ``weight_bits`` (the paper's
  networks are 8-bit: two 4-bit slices on their own columns, combined digitally with significance 1 and 16).
  A layer's columns fill as many ``size`` x ``size`` crossbars as needed, each with its own row and column
  wires (Table III: 64x64). ``differential`` stores a pair (G+, G-) per weight and slice; ``offset`` is
  SpikeSim's single device per 4-bit weight holding the signed integer plus an offset (level q + 8 of 0..15
  in [G_off, G_on]), the signed product recovered by the digital DIFF module, which subtracts the offset's
  current once per input spike ("replace the dual-crossbar approach with a cost-efficient digital DIFF
  module", Moitra et al. §IV.A). Each timestep is one crossbar read of the binary spike vector (rows at
  V_read or 0 V), or of the analog input x in [0, 1] (rows at x·V_read, x on the DAC's ``2**input_bits``
  levels). An optional ADC (``adc_bits``) digitises every column of every crossbar and slice at every
  read, with a fixed full scale of a column at G_on, before the digital shift-and-add (:func:`adc`).

The array is linear in its row voltages, so the nodal solver's answer for any spike vector is
``v·s @ A`` with ``A`` the effective conductance matrix from one solve with one row driven at a time
(:func:`effective_conductances`, :func:`testbenches.reram.crossbar.nodal_currents`): IR drop costs one
LU per crossbar and is exact. Read noise perturbs every cell at every read; the study draws it on the
column currents as ``N(0, σ²·v²·s² @ A²)`` (s² = s for spikes), first order in the IR drop (A instead of G under the
noise), which :func:`check_fast_model` compares with nodal solves of the perturbed arrays.

Needs the optional torch extra (and scikit-learn, which comes with it).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fitting.mdwmtj.layer import spike
from spicegen.figures import pyplot, save_figure
from testbenches.reram.crossbar import nodal_currents
from testbenches.reram.nonideal import NonIdealities, target_conductances
from testbenches.reram.presets import preset

LEAK = 0.9
"""Default membrane leak per timestep (λ of the paper's Eq. 1; 1 = integrate-and-fire)."""
ENCODINGS = ("rate", "direct")
"""Input encodings: a Poisson spike train of rate x, or x itself at every timestep (multi-bit rows)."""
MAPPINGS = ("offset", "differential")
"""Signed weights on the array: one device plus SpikeSim's digital offset subtraction, or a G+/G- pair."""
THRESHOLD = 1.0
"""Firing threshold θ."""
BATCH, LR = 64, 3e-3
"""Training batch and Adam learning rate."""
INIT_GAIN = 2.0
"""Gain of the Xavier-uniform weight initialisation of a network without batch norm (SpikeSim's training code)."""

Mvm = Callable[[torch.Tensor], torch.Tensor]
"""A layer's matrix-vector product on a batch of spike vectors (weight units)."""


_SPIKESIM = preset("spikesim-rram")


def _check_resolution(name: str, value: object, converter: str, example: str, otherwise: str = "") -> None:
    """Raise unless ``value`` is an integer resolution >= 1 (a bool is not): the message names ``name``, the
    ``converter`` it sets, an ``example`` and ``otherwise`` what else may be given."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} = {value!r}: give the {converter}'s resolution as an integer >= 1 "
                         f"(e.g. {example}){otherwise}.")


def _check_encoding(encoding: str) -> None:
    """Raise unless ``encoding`` is one of :data:`ENCODINGS`."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding = {encoding!r}: choose one of {', '.join(ENCODINGS)}.")


@dataclass(frozen=True)
class SpikeSimCrossbar:
    """Crossbar of the SpikeSim evaluation (Moitra et al., "When In-memory Computing Meets Spiking Neural
    Networks", Table III, Fig. 10a) and its non-idealities; the defaults are the ``spikesim-rram`` preset's.

    Attributes
    ----------
    g_on
        On conductance (S): 1/R_on with R_on = 20 kΩ.
    on_off
        On/off ratio (G_off = g_on/on_off).
    bits
        Device precision (levels per device: 2**bits).
    v_read
        Read voltage of an active row (V).
    r_par
        Wire segment resistance between adjacent cells in rows and columns (Ω); 0 = ideal wires.
    read_noise
        Relative Gaussian read noise σ of every cell at every read; 0 = off.
    size
        Rows of one crossbar (the digits' 64 pixels fill it).
    mapping
        One of :data:`MAPPINGS`.
    weight_bits
        Weight precision: ``ceil(weight_bits / bits)`` slices of ``bits`` bits each on their own columns,
        combined digitally with their significance (SpikeSim's 8-bit weights on 4-bit devices: two slices);
        ``bits`` = one device (pair) per weight.
    input_bits
        DAC resolution of the row drivers: an analog row input x in [0, 1] (direct encoding) is driven at
        ``round(x·(2**input_bits - 1)) / (2**input_bits - 1)·V_read``; spikes (0 or 1) pass unchanged.
    adc_bits
        ADC resolution of every column's partial sum, read per crossbar, per slice and per timestep before
        the digital shift-and-add (:func:`adc`); ``None`` = ideal (floating-point) read-out.
    """

    g_on: float = _SPIKESIM.g_max
    on_off: float = _SPIKESIM.on_off
    bits: int = _SPIKESIM.levels.bit_length() - 1
    v_read: float = _SPIKESIM.v_read
    r_par: float = _SPIKESIM.r_wire
    read_noise: float = _SPIKESIM.read_noise
    size: int = _SPIKESIM.array_size
    mapping: str = "differential"
    weight_bits: int = _SPIKESIM.levels.bit_length() - 1
    adc_bits: int | None = None
    input_bits: int = 6

    def __post_init__(self) -> None:
        _check_resolution("input_bits", self.input_bits, "row DAC", "6")
        if self.adc_bits is not None:
            _check_resolution("adc_bits", self.adc_bits, "column ADC", "5, the paper's ADC",
                              ", or None for an ideal read-out")
        if self.mapping not in MAPPINGS:
            raise ValueError(f"mapping = {self.mapping!r}: choose one of {', '.join(MAPPINGS)}.")
        if self.weight_bits < self.bits:
            raise ValueError(f"weight_bits = {self.weight_bits!r} < bits = {self.bits!r}: a weight needs at least "
                             f"one device.")
        if self.slices > 1 and self.mapping != "differential":
            raise ValueError(f"weight_bits = {self.weight_bits!r} > bits = {self.bits!r} slices the weights over "
                             f"differential pairs: set mapping='differential'.")
        if self.on_off <= 1:
            raise ValueError(f"on_off = {self.on_off!r}: the on/off ratio must exceed 1.")
        if self.r_par < 0 or self.read_noise < 0:
            raise ValueError(f"r_par = {self.r_par!r} Ω and read_noise = {self.read_noise!r} must be >= 0.")

    @property
    def slices(self) -> int:
        """Devices (pairs) per weight."""
        return -(-self.weight_bits // self.bits)

    @property
    def g_off(self) -> float:
        """Off conductance (S)."""
        return self.g_on / self.on_off

    @property
    def adc_full_scale(self) -> float:
        """ADC full-scale current of a column (A): ``size`` rows at G_on and V_read, the largest current a
        crossbar column can carry, fixed as in SpikeSim and NeuroSim (not adapted to the partial sums)."""
        return self.size * self.g_on * self.v_read

    def ideal(self) -> SpikeSimCrossbar:
        """The same mapping without non-idealities."""
        return replace(self, r_par=0.0, read_noise=0.0, adc_bits=None)

    @classmethod
    def with_device(cls, name: str, **settings: Any) -> SpikeSimCrossbar:
        """The SpikeSim crossbar with the cells of the device preset ``name`` (its G_on, on/off ratio and read
        voltage; :data:`testbenches.reram.presets.PRESETS`) in SpikeSim's 4-bit slices; ``settings`` set the
        other attributes (wires, read noise, mapping, ADC)."""
        cells = preset(name)
        return cls(g_on=cells.g_max, on_off=cells.on_off, v_read=cells.v_read, **settings)


def adc(currents: torch.Tensor, bits: int, full_scale: float) -> torch.Tensor:
    """Column currents through a linear mid-tread ADC: ``2**bits`` codes 0 … 2**bits - 1, step
    ``full_scale / (2**bits - 1)`` (the top code reads the full scale), each current rounded to the nearest
    code and clipped to the range (a negative current, from read noise, reads 0)."""
    _check_resolution("bits", bits, "ADC", "5")
    if not full_scale > 0:
        raise ValueError(f"full_scale = {full_scale!r} A: the ADC range must be > 0.")
    step = full_scale / (2 ** bits - 1)
    return torch.clamp(torch.round(currents / step), 0, 2 ** bits - 1) * step


def dac(rows: torch.Tensor, bits: int) -> torch.Tensor:
    """Row inputs in [0, 1] on the ``2**bits`` levels of a linear DAC (0 and 1 exact, so spikes pass)."""
    low, high = float(rows.min()), float(rows.max())
    if low < 0 or high > 1:
        raise ValueError(f"row inputs span [{low:g}, {high:g}]: the DAC drives 0 … V_read, give inputs in [0, 1] "
                         f"(e.g. pixels / their maximum).")
    top = 2 ** bits - 1
    return torch.round(rows * top) / top


def pair_conductances(weights: np.ndarray, xbar: SpikeSimCrossbar) -> tuple[np.ndarray, np.ndarray]:
    """Physical array of ``weights`` (in x out) on differential pairs, and the weight that a full
    G_on - G_off difference stands for in each slice (most significant last).

    The magnitude, rounded to ``weight_bits``, is split into base-``2**bits`` digits; slice k fills its own
    block of 2·out columns (G+ and G- interleaved, S)."""
    w_max = float(np.abs(weights).max()) or 1.0
    top, base = 2 ** xbar.weight_bits - 1, 2 ** xbar.bits
    magnitude = np.round(np.abs(weights) / w_max * top)
    digits = [(magnitude // base ** k) % base for k in range(xbar.slices)]
    device = NonIdealities(g_max=xbar.g_on, on_off=xbar.on_off, levels=base)
    g = np.hstack([target_conductances(np.sign(weights) * d / (base - 1), device) for d in digits])
    return g, w_max * (base - 1) * base ** np.arange(xbar.slices) / top


def offset_conductances(weights: np.ndarray, xbar: SpikeSimCrossbar) -> tuple[np.ndarray, float]:
    """Physical array (rows x columns, S) of ``weights`` in SpikeSim's offset mapping, and the weight of one
    integer step: level ``q + 2**(bits-1)`` of ``2**bits`` with ``q = round(w / step)`` in ±(2**(bits-1) - 1)."""
    half = 2 ** (xbar.bits - 1)
    step = (float(np.abs(weights).max()) or 1.0) / (half - 1)
    levels = np.round(weights / step) + half
    return xbar.g_off + (xbar.g_on - xbar.g_off) * levels / (2 ** xbar.bits - 1), step


def tiled_currents(g_cells: np.ndarray, v_rows: np.ndarray, r_par: float, tile: int) -> np.ndarray:
    """Column currents (A) by the nodal solver, the columns split into crossbars of ``tile`` columns, each
    with its own row and column wires (the row drivers shared)."""
    return np.hstack([nodal_currents(g_cells[:, j:j + tile], v_rows, r_par)
                      for j in range(0, g_cells.shape[1], tile)])


def effective_conductances(g_cells: np.ndarray, r_par: float, v_read: float, tile: int) -> np.ndarray:
    """``A`` (S) with column currents ``v·s @ A`` for any row pattern s: one nodal solve per driven row on
    crossbars of ``tile`` columns (:func:`tiled_currents`)."""
    if r_par == 0:
        return g_cells
    return tiled_currents(g_cells, np.eye(g_cells.shape[0]) * v_read, r_par, tile) / v_read


class CrossbarLayer:
    """One weight matrix on SpikeSim crossbars (``xbar.size`` columns each): ``__call__(rows)`` is one read,
    in weight units.

    ``analog_rows``: the rows may carry analog inputs (the first crossbar under direct encoding), driven
    through the DAC of ``xbar.input_bits``; ``False`` for a layer read only with spikes, which the DAC passes
    unchanged, so it is skipped there.
    """

    def __init__(self, weights: np.ndarray, xbar: SpikeSimCrossbar, generator: torch.Generator,
                 analog_rows: bool = True) -> None:
        if weights.shape[0] > xbar.size:
            raise ValueError(f"a layer with {weights.shape[0]} inputs does not fit a {xbar.size}-row crossbar.")
        span = xbar.g_on - xbar.g_off
        outputs = weights.shape[1]
        if xbar.mapping == "differential":
            self.g, w_units = pair_conductances(weights, xbar)
            # column 2j (+) and 2j+1 (-) of slice k's block add to output j with its significance
            self.decoder = torch.zeros(self.g.shape[1], outputs, dtype=torch.float64)
            for k, w_unit in enumerate(w_units / (xbar.v_read * span)):
                block = self.decoder[2 * outputs * k:2 * outputs * (k + 1)]
                block[0::2].fill_diagonal_(w_unit)
                block[1::2].fill_diagonal_(-w_unit)
            self.g_zero = 0.0
        else:
            self.g, w_unit = offset_conductances(weights, xbar)
            self.decoder = torch.eye(outputs, dtype=torch.float64) * w_unit * (2 ** xbar.bits - 1) / (
                xbar.v_read * span)
            self.g_zero = xbar.g_off + span * 2 ** (xbar.bits - 1) / (2 ** xbar.bits - 1)
        self.a = torch.tensor(effective_conductances(self.g, xbar.r_par, xbar.v_read, xbar.size),
                              dtype=torch.float32)
        self.a2 = self.a ** 2
        self.xbar, self.generator, self.analog_rows = xbar, generator, analog_rows

    def currents(self, spikes: torch.Tensor) -> torch.Tensor:
        """Column currents (A) of one read of row inputs in [0, 1] (spikes, or analog through the DAC), with
        read noise, through the ADC of each crossbar column."""
        v = self.xbar.v_read
        current = v * spikes @ self.a
        if self.xbar.read_noise:
            current = current + self.current_std(spikes) * torch.randn(current.shape, generator=self.generator)
        if self.xbar.adc_bits is not None:
            current = adc(current, self.xbar.adc_bits, self.xbar.adc_full_scale)
        return current

    def current_std(self, spikes: torch.Tensor) -> torch.Tensor:
        """Read-noise spread (A) of every column current, first order in the IR drop: each cell's current
        x·v·A carries σ·x·v·A."""
        return self.xbar.read_noise * self.xbar.v_read * torch.sqrt(spikes ** 2 @ self.a2)

    def decode(self, currents: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        """Weight-unit outputs: the pair differences weighted by their slice's significance, or the digital
        subtraction of the offset per input spike."""
        offset = self.xbar.v_read * self.g_zero * spikes.sum(1, keepdim=True)
        return (currents - offset) @ self.decoder.to(currents.dtype)

    def output_std(self, spikes: torch.Tensor) -> torch.Tensor:
        """Read-noise spread of the decoded outputs."""
        return torch.sqrt(self.current_std(spikes) ** 2 @ self.decoder.to(spikes.dtype) ** 2)

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        if self.analog_rows:
            rows = dac(rows, self.xbar.input_bits)
        return self.decode(self.currents(rows), rows)


def check_fast_model(weights: np.ndarray, xbar: SpikeSimCrossbar, reads: int, rng: np.random.Generator,
                     rate: float = 0.3, analog: bool = False) -> dict[str, float]:
    """The layer model against the nodal solver on ``reads`` random spike vectors (``rate`` active rows), or,
    ``analog``, on those rows driven at uniform random levels of the DAC (direct encoding).

    Returns the largest relative error of the noise-free outputs (superposition: round-off), and the
    spread of the read-noise outputs of the nodal solver on perturbed arrays ``G·(1 + σ·N)`` over that of
    the layer model (1 = the first-order noise model is exact), with their relative RMS difference.
    """
    xbar = replace(xbar, adc_bits=None)  # the check is of the analog model, before the ADC
    layer = CrossbarLayer(weights, replace(xbar, read_noise=0.0), torch.Generator())
    spikes = (rng.random((reads, weights.shape[0])) < rate).astype(float)
    if analog:
        spikes = dac(torch.tensor(spikes * rng.random(spikes.shape)), xbar.input_bits).numpy()
    s = torch.tensor(spikes)
    g, v = layer.g, xbar.v_read

    def decoded(currents: np.ndarray) -> np.ndarray:
        return layer.decode(torch.from_numpy(currents), s[:len(currents)]).numpy()

    exact = decoded(tiled_currents(g, spikes * v, xbar.r_par, xbar.size))
    fast = layer(s.float()).double().numpy()
    noisy = np.concatenate([layer.decode(torch.from_numpy(tiled_currents(
        g * (1 + xbar.read_noise * rng.standard_normal(g.shape)), row[None] * v, xbar.r_par, xbar.size)),
        s[i:i + 1]).numpy()
        for i, row in enumerate(spikes)])
    layer.a2, layer.xbar = layer.a2.double(), xbar
    std_fast = layer.output_std(s).numpy()
    active = std_fast > 0  # a read with no active row has neither signal nor noise
    z = (noisy - exact)[active] / std_fast[active]
    return {"mean_rel_error": float(np.abs(fast - exact).max() / np.abs(exact).max()),
            "noise_std_ratio": float(z.std()), "reads": reads}


class SpikingMLP(nn.Module):
    """64 → ``depth`` x hidden LIF (batch norm, leak, threshold, soft reset) → 10 outputs accumulated over T;
    ``encoding`` (:data:`ENCODINGS`) is how its inputs are fed, in training and inference alike.

    ``batch_norm=False`` leaves the crossbar outputs unnormalised, as the networks of SpikeSim's training code
    are, with their Xavier-uniform initialisation (gain :data:`INIT_GAIN`) so that the untrained layers spike.
    ``norm_steps=T`` gives every timestep of a T-step run its own batch norm, scale only (batch norm through
    time, as SpikeSim's VGG networks: their shift is removed); 0 shares one norm over the timesteps.
    """

    def __init__(self, hidden: int = 64, leak: float = LEAK, inputs: int = 64, classes: int = 10,
                 depth: int = 1, encoding: str = "rate", batch_norm: bool = True, norm_steps: int = 0) -> None:
        super().__init__()
        _check_encoding(encoding)
        if isinstance(norm_steps, bool) or not isinstance(norm_steps, int) or norm_steps < 0:
            raise ValueError(f"norm_steps = {norm_steps!r}; valid: an integer >= 0 (0: one norm shared over time)")
        if norm_steps and not batch_norm:
            raise ValueError("norm_steps > 0 (a batch norm per timestep) needs batch_norm=True")
        self.leak, self.encoding, self.batch_norm, self.norm_steps = leak, encoding, batch_norm, norm_steps
        widths = [inputs] + [hidden] * depth
        self.hidden = nn.ModuleList(nn.Linear(i, o, bias=False) for i, o in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(_layer_norms(hidden, batch_norm, norm_steps) for _ in range(depth))
        self.readout = nn.Linear(hidden, classes, bias=False)
        if not batch_norm:
            for layer in self.weights:
                nn.init.xavier_uniform_(layer.weight, gain=INIT_GAIN)

    @property
    def weights(self) -> list[nn.Linear]:
        """Every weight matrix, input first: one crossbar each."""
        return [*self.hidden, self.readout]

    def forward(self, trains: torch.Tensor, mvms: Sequence[Mvm] | None = None,
                record: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits of input trains ``(T, batch, 64)`` (:func:`encode`); ``mvms`` replaces the weight products (crossbars);
        ``record`` collects the hidden membrane potentials (all layers side by side) of every timestep."""
        mvms = mvms or self.weights
        if self.norm_steps and len(trains) != self.norm_steps:
            raise ValueError(f"{len(trains)} timesteps given to a network with a batch norm for each of "
                             f"{self.norm_steps}; encode the inputs over {self.norm_steps} timesteps")
        u = [torch.zeros(trains.shape[1], layer.out_features) for layer in self.hidden]
        out = 0.0
        for t, s in enumerate(trains):
            charged = []
            for k, (mvm, norms) in enumerate(zip(mvms, self.norms)):
                u[k] = self.leak * u[k] + norms[t if self.norm_steps else 0](mvm(s))
                charged.append(u[k].detach().clone())
                s = spike(u[k] - THRESHOLD)
                u[k] = u[k] - s * THRESHOLD
            if record is not None:
                record.append(torch.cat(charged, 1))
            out = out + mvms[-1](s)
        return out / len(trains)


def _layer_norms(hidden: int, batch_norm: bool, norm_steps: int) -> nn.ModuleList:
    """One layer's normalisations: one shared batch norm, one scale-only batch norm per timestep, or none."""
    if not batch_norm:
        return nn.ModuleList([nn.Identity()])
    if not norm_steps:
        return nn.ModuleList([nn.BatchNorm1d(hidden)])
    norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(norm_steps))
    for norm in norms:
        norm.bias = None
    return norms


def digits(rng: np.random.Generator, test_fraction: float = 0.3) -> tuple[torch.Tensor, ...]:
    """scikit-learn's digits as spike probabilities in [0, 1], shuffled by ``rng``: x_train, y_train, x_test, y_test."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = rng.permutation(len(y))
    x, y = torch.tensor(x[order] / 16.0, dtype=torch.float32), torch.tensor(y[order])
    cut = int(round(len(y) * (1 - test_fraction)))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def encode(x: torch.Tensor, steps: int, generator: torch.Generator, encoding: str = "rate") -> torch.Tensor:
    """``(steps, batch, pixels)`` inputs of x in [0, 1]: ``rate``, spikes with probability x per timestep
    (Poisson rate code); ``direct``, x itself at every timestep (``generator`` unused)."""
    _check_encoding(encoding)
    if encoding == "direct":
        return x.expand(steps, *x.shape).clone()
    return (torch.rand((steps, *x.shape), generator=generator) < x).float()


def train(x: torch.Tensor, y: torch.Tensor, steps: int, epochs: int, hidden: int, leak: float,
          seed: int, depth: int = 1, encoding: str = "rate", batch_norm: bool = True,
          through_time: bool = False) -> SpikingMLP:
    """BPTT in floating point at ``steps`` timesteps on ``encoding`` inputs (torch seeded with ``seed``);
    ``through_time``: a batch norm per timestep (:class:`SpikingMLP` ``norm_steps``)."""
    torch.manual_seed(seed)
    spikes = torch.Generator().manual_seed(seed)
    net = SpikingMLP(hidden, leak, depth=depth, encoding=encoding, batch_norm=batch_norm,
                     norm_steps=steps if through_time else 0)
    optimiser = torch.optim.Adam(net.parameters(), lr=LR)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(y))
        for i in range(0, len(order), BATCH):
            batch = order[i:i + BATCH]
            loss = F.cross_entropy(net(encode(x[batch], steps, spikes, net.encoding)), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net.eval()


def hardware(net: SpikingMLP, xbar: SpikeSimCrossbar, generator: torch.Generator) -> list[CrossbarLayer]:
    """Every weight matrix on a crossbar; only the first, under direct encoding, reads analog rows (the DAC)."""
    return [CrossbarLayer(layer.weight.detach().T.double().numpy(), xbar, generator,
                          analog_rows=k == 0 and net.encoding == "direct") for k, layer in enumerate(net.weights)]


def accuracy(net: SpikingMLP, x: torch.Tensor, y: torch.Tensor, steps: int, mvms: Sequence[Mvm] | None,
             seed: int, repeats: int) -> float:
    """Test accuracy (fraction) averaged over ``repeats`` draws of the input spikes (and read noise)."""
    spikes = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        hits = [float((net(encode(x, steps, spikes, net.encoding), mvms).argmax(1) == y).float().mean()) for _ in range(repeats)]
    return float(np.mean(hits))


def adapt_norm(net: SpikingMLP, x: torch.Tensor, steps: int, mvms: Sequence[Mvm], seed: int) -> SpikingMLP:
    """A copy of ``net`` whose batch-norm statistics are re-measured on the hardware (training inputs):
    the noise-aware batch-norm adaptation of Moitra et al. Fig. 10c; weights untouched. A network without
    batch norm has nothing to adapt: its copy computes what it does."""
    adapted = copy.deepcopy(net)
    if not net.batch_norm:
        return adapted
    for norm in (m for m in adapted.modules() if isinstance(m, nn.BatchNorm1d)):
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over all timesteps (over the inputs with one per timestep)
    adapted.train()
    with torch.no_grad():
        adapted(encode(x, steps, torch.Generator().manual_seed(seed), net.encoding), mvms)
    return adapted.eval()


def membrane_error(net: SpikingMLP, x: torch.Tensor, steps: int, mvms: Sequence[Mvm], seed: int) -> list[float]:
    """RMS deviation (in units of θ) of the hidden membrane potential on the crossbars from the ideal one,
    per timestep, on the same input spikes."""
    trains = encode(x, steps, torch.Generator().manual_seed(seed), net.encoding)
    ideal: list[torch.Tensor] = []
    real: list[torch.Tensor] = []
    with torch.no_grad():
        net(trains, None, ideal)
        net(trains, mvms, real)
    return [float(((a - b) ** 2).mean().sqrt() / THRESHOLD) for a, b in zip(real, ideal)]


def spike_rates(net: SpikingMLP, x: torch.Tensor, steps: int, mvms: Sequence[Mvm], seed: int) -> dict[str, list]:
    """Per hidden layer: the mean spike rate (spikes per neuron and timestep) in floating point and on the
    crossbars, and the mean absolute difference of every neuron's rate, on the same input spikes."""
    trains = encode(x, steps, torch.Generator().manual_seed(seed), net.encoding)
    membranes: dict[str, list[torch.Tensor]] = {"ideal": [], "crossbar": []}
    with torch.no_grad():
        net(trains, None, membranes["ideal"])
        net(trains, mvms, membranes["crossbar"])
    rates = {k: (torch.stack(v) > THRESHOLD).float().mean(0) for k, v in membranes.items()}
    layers = [slice(k * layer.out_features, (k + 1) * layer.out_features) for k, layer in enumerate(net.hidden)]
    return {"ideal": [float(rates["ideal"][:, j].mean()) for j in layers],
            "crossbar": [float(rates["crossbar"][:, j].mean()) for j in layers],
            "abs_difference": [float((rates["ideal"][:, j] - rates["crossbar"][:, j]).abs().mean()) for j in layers]}


def read_error_averaging(ideal: CrossbarLayer, real: CrossbarLayer, trains: torch.Tensor) -> dict[str, float]:
    """How the output error of one layer (``real`` - ``ideal``, same spike trains ``(T, batch, inputs)``)
    averages over the T reads, each relative to the RMS of the ideal outputs: the RMS error of one read,
    of the mean over the T reads (an error that changes from read to read falls as 1/sqrt(T)), and of its
    mean over every read and image per output (the bias, which no number of reads removes)."""
    with torch.no_grad():
        signal = torch.stack([ideal(s) for s in trains]).double()
        error = torch.stack([real(s) for s in trains]).double() - signal
    scale = float(signal.pow(2).mean().sqrt())
    return {"per_read": float(error.pow(2).mean().sqrt()) / scale,
            "over_reads": float(error.mean(0).pow(2).mean().sqrt()) / scale,
            "bias": float(error.mean((0, 1)).pow(2).mean().sqrt()) / scale, "reads": len(trains)}


CONFIGS = {"ideal": "ideal crossbar (quantized, on/off 10)", "ir": "IR drop (r_par = 5 Ω)",
           "noise": "read noise (σ = 0.1)", "adc": "ADC only (full scale = a column at G_on)",
           "both": "IR drop + read noise",
           "adapted": "all, batch norm adapted"}
"""Inference configurations of the study → figure labels (``adc`` only when the crossbar has an ADC)."""


def run_timesteps(data: tuple[torch.Tensor, ...], steps: int, xbar: SpikeSimCrossbar, epochs: int, hidden: int,
                  leak: float, seed: int, repeats: int, depth: int = 1, encoding: str = "rate",
                  batch_norm: bool = True, through_time: bool = False,
                  train_steps: int | None = None) -> dict[str, Any]:
    """Train at ``train_steps`` timesteps (default ``steps``) on ``encoding`` inputs (with or without
    ``batch_norm``, shared or ``through_time``) and measure the accuracy at ``steps`` timesteps in every
    configuration of :data:`CONFIGS`. Training is seeded, so every call with the same ``train_steps`` runs the
    same network."""
    x_train, y_train, x_test, y_test = data
    net = train(x_train, y_train, train_steps or steps, epochs, hidden, leak, seed, depth, encoding, batch_norm,
                through_time)
    return {**evaluate(net, data, steps, xbar, seed, repeats), "trained_at": train_steps or steps}


def evaluate(net: SpikingMLP, data: tuple[torch.Tensor, ...], steps: int, xbar: SpikeSimCrossbar, seed: int,
             repeats: int) -> dict[str, Any]:
    """The accuracy of a trained network in every configuration of :data:`CONFIGS` (``adapted`` only with batch
    norm), its hidden membrane error per timestep and the check of the layer model."""
    x_train, _, x_test, y_test = data
    noise = torch.Generator().manual_seed(seed + 1)
    settings = {"ideal": xbar.ideal(), "ir": replace(xbar.ideal(), r_par=xbar.r_par),
                "noise": replace(xbar.ideal(), read_noise=xbar.read_noise), "both": xbar}
    if xbar.adc_bits is not None:
        settings["adc"] = replace(xbar.ideal(), adc_bits=xbar.adc_bits)
    layers = {k: hardware(net, v, noise) for k, v in settings.items()}
    acc = {k: accuracy(net, x_test, y_test, steps, m, seed + 2, repeats) for k, m in layers.items()}
    acc["software"] = accuracy(net, x_test, y_test, steps, None, seed + 2, repeats)
    if net.batch_norm:
        acc["adapted"] = accuracy(adapt_norm(net, x_train, steps, layers["both"], seed + 3), x_test, y_test, steps,
                                  layers["both"], seed + 2, repeats)
    extra = {}
    if "adc" in layers:  # the first layer sees the same input spikes on both
        trains = encode(x_test, steps, torch.Generator().manual_seed(seed + 2), net.encoding)
        extra["adc_error"] = read_error_averaging(layers["ideal"][0], layers["adc"][0], trains)
    return {"timesteps": steps, "accuracy": acc, **extra,
            "membrane_error": membrane_error(net, x_test, steps, layers["both"], seed + 2),
            "spike_rates": spike_rates(net, x_test, steps, layers["both"], seed + 2),
            "fast_model": check_fast_model(net.hidden[0].weight.detach().T.double().numpy(), xbar, 8,
                                           np.random.default_rng(seed + 4), analog=net.encoding == "direct")}


def plot(rows: Sequence[dict[str, Any]], path: Path, title: str = "64-64-64-10", device: str = "RRAM") -> Path:
    """Accuracy (%) vs timesteps per configuration, and the hidden membrane error vs timestep."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.0))
    steps = [r["timesteps"] for r in rows]
    with_adc = "adc" in rows[0]["accuracy"]
    for key, label in ((k, v) for k, v in CONFIGS.items() if k in rows[0]["accuracy"]):
        label = label + " + ADC" if key == "both" and with_adc else label
        left.plot(steps, [100 * r["accuracy"][key] for r in rows], "o-" if key in ("ideal", "both") else ".--",
                  label=label)
    left.set_xscale("log", base=2)
    left.set_xticks(steps, [str(s) for s in steps])
    trained = {r.get("trained_at", r["timesteps"]) for r in rows}
    left.set_xlabel("timesteps T (trained and run at T)" if trained == set(steps) or len(trained) > 1
                    else f"timesteps T (one network, trained at T = {trained.pop()})")
    left.set_ylabel("test accuracy (%)")
    left.set_title(f"LIF SNN {title} on 64x64 {device} crossbars, digits", fontsize=9)
    left.legend(fontsize=8)
    for r in rows:
        right.plot(range(1, r["timesteps"] + 1), r["membrane_error"], label=f"T = {r['timesteps']}")
    right.set_xlabel("timestep t")
    right.set_ylabel("RMS hidden membrane error (θ)")
    right.set_title("all non-idealities vs ideal, same input spikes", fontsize=9)
    right.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)
