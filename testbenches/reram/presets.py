"""Device presets of :class:`~testbenches.reram.nonideal.NonIdealities` by name.

* The six eNVM devices of DNN+NeuroSim V1.4 (Peng, Lu, Lee, Yu et al., user manual, Table VI
  "Recommended eNVM device parameters"): ``R_on`` (so ``g_max = 1/R_on``), on/off ratio and cell size
  are the table's; the rest are the defaults of NeuroSim's ``inference.py`` (128 x 128 sub-array, every
  row read at once, 5-bit ADC, ``vari = 0``, 8-bit activations fed bit-serially, so 8-bit inputs), one
  device per weight against a dummy column (manual §9, Fig. 22), no wire resistance (NeuroSim's accuracy
  model has none). Table VI gives no number of levels: NeuroSim slices a multi-bit weight over
  ``cellBit``-bit cells, which a single-cell mapping does not do, so ``levels = 0`` (set ``levels``
  for a multi-level cell).
* ``spikesim-rram``: the SpikeSim setting of Moitra et al., "When In-memory Computing Meets Spiking Neural
  Networks" (Appendix Table III: 64 x 64 crossbar, RRAM, 4-bit device, on/off 10 with R_on = 20 kOhm,
  read voltage 0.1 V; Fig. 10a: r_par = 5 Ohm, Gaussian read noise sigma = 0.1; §IV.C.3: a 5-bit ADC
  with 4-bit devices for an 8-bit network), a differential pair per weight, wire resistance in rows and
  columns; spike inputs are binary, so no DAC.
* ``cmo-hfox``: our calibrated CMO/HfOx ReRAM (Falcone et al., "All-in-One Analog AI Hardware",
  §2.2.2, §4.6): [9, 89] uS differential pair, sigma_prog of the closed-loop programming at 0.2 %
  acceptance (extraction ``reram-sigma-prog``), relaxation lines of the extraction ``reram-relaxation``,
  6-bit DAC, 8-bit ADC on +-12, 0.35 Ohm wire segments along the columns (aihwkit's IR-drop model).
* ``cmo-hfox-aihwkit``: the same array with the programming-noise and relaxation coefficients of the
  authors' inference noise model in aihwkit (``ReRamCMONoiseModel`` defaults, acceptance 0.2 %):
  ``sigma_prog = 1.06879e-3*G + 0.811 nS``, ``mu(t) = -0.0890*ln(t/s)`` uS and
  ``sigma(t) = 0.412 + 0.0420*ln(t/s)`` uS, here per decade (x ln 10).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from spicegen.naming import did_you_mean
from testbenches.reram.nonideal import NonIdealities

#: Shipped closed-loop sigma_prog line at 0.2 % acceptance (extraction ``reram-sigma-prog``; slope, offset in S).
SIGMA_PROG_LINE = (0.0011209865183524174, 7.191388101508244e-10)
#: Shipped relaxation lines (extraction ``reram-relaxation``, uS): mean at 1 s, per decade; sigma at 1 s, per decade.
RELAXATION_LINES_US = (0.0, -0.19120983095596822, 0.0558, 0.19588566314553596)
#: aihwkit ``ReRamCMONoiseModel`` defaults: sigma_prog (slope, offset uS), mean per ln t (uS), sigma (per ln t, at 1 s; uS).
AIHWKIT_CMO = {"prog": (0.00106879, 0.00081107), "mean_per_ln": -0.08900206, "std": (0.04201137, 0.41183342)}


@dataclass(frozen=True)
class Preset:
    """A named device setting.

    Attributes
    ----------
    name
        Preset name for :func:`preset`.
    device
        Technology in words.
    source
        Where its numbers come from.
    settings
        The non-idealities.
    cell_f2
        Cell area in F^2 where the source gives it (NeuroSim Table VI), else 0.
    """

    name: str
    device: str
    source: str
    settings: NonIdealities
    cell_f2: float = 0.0


def _neurosim(name: str, device: str, r_on: float, on_off: float, cell_f2: float) -> Preset:
    settings = NonIdealities(g_max=1.0 / r_on, on_off=on_off, mapping="dummy", array_size=128, dac_bits=8,
                             adc_bits=5, parallel_rows=128)
    return Preset(name, device, "DNN+NeuroSim V1.4 manual, Table VI; inference.py defaults", settings, cell_f2)


def _cmo(name: str, source: str, prog: tuple[float, float], relax_us: tuple[float, float, float, float]) -> Preset:
    mean_1s, mean_dec, sigma_1s, sigma_dec = (v * 1e-6 for v in relax_us)
    settings = NonIdealities(g_max=89e-6, on_off=89.0 / 9.0, sigma_prog_slope=prog[0], sigma_prog_offset=prog[1],
                             relax_mean_1s=mean_1s, relax_mean_per_decade=mean_dec, relax_sigma_1s=sigma_1s,
                             relax_sigma_per_decade=sigma_dec, dac_bits=6, adc_bits=8, out_bound=12.0,
                             r_wire=0.35, wires="columns", v_read=0.2)
    return Preset(name, "CMO/HfOx ReRAM, 130 nm BEOL 1T1R", source, settings)


_LN10 = math.log(10.0)
_PRESETS = (
    _neurosim("rram-22nm-intel", "22 nm RRAM (Intel)", 6e3, 17.0, 60.0),
    _neurosim("rram-90nm-winbond", "90 nm RRAM (Winbond)", 6e3, 150.0, 36.0),
    _neurosim("rram-130nm-tsinghua", "130 nm RRAM (Tsinghua)", 100e3, 10.0, 16.0),
    _neurosim("pcm-90nm-ibm", "90 nm PCM (IBM)", 40e3, 12.5, 16.0),
    _neurosim("fefet-22nm-gf", "22 nm FeFET (GF)", 240e3, 100.0, 24.0),
    _neurosim("stt-mram-22nm-intel", "22 nm STT-MRAM (Intel)", 1.4e3, 2.8, 100.0),
    Preset("spikesim-rram", "RRAM, 65 nm CMOS", "Moitra et al., Table III and Fig. 10a",
           NonIdealities(g_max=1.0 / 20e3, on_off=10.0, levels=16, array_size=64, read_noise=0.1, adc_bits=5,
                         out_bound=12.0, r_wire=5.0, wires="both", v_read=0.1)),
    _cmo("cmo-hfox", "Falcone et al. §4.6; extractions reram-sigma-prog, reram-relaxation", SIGMA_PROG_LINE,
         RELAXATION_LINES_US),
    _cmo("cmo-hfox-aihwkit", "Falcone et al. §4.6; aihwkit ReRamCMONoiseModel defaults",
         (AIHWKIT_CMO["prog"][0], AIHWKIT_CMO["prog"][1] * 1e-6),
         (0.0, AIHWKIT_CMO["mean_per_ln"] * _LN10, AIHWKIT_CMO["std"][1], AIHWKIT_CMO["std"][0] * _LN10)),
)
#: Every preset by name.
PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}


def preset(name: str) -> NonIdealities:
    """The non-idealities of the device preset ``name``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the presets.

    Examples
    --------
    >>> preset("spikesim-rram").read_noise
    0.1
    """
    if name not in PRESETS:
        raise ValueError(f"unknown device preset {name!r}{did_you_mean(name, PRESETS)}; "
                         f"choose one of: {', '.join(PRESETS)}.")
    return PRESETS[name].settings
