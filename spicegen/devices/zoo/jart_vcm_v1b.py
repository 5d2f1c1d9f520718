"""JART VCM v1b: filamentary valence-change ReRAM, Schottky contact in series with disc, plug and line resistance.

Structure (active electrode ``te``, ohmic electrode ``be``)::

    te --[ Schottky contact (TE / TFE) ]-- sc --[ R_disc(N) + R_plug ]-- dp --[ R_series(I) ]-- be
                          ^ filament temperature T = T0 + P*R_th,eff   (node tk, T = T0*exp(V(tk)))

* Schottky contact, barrier lowered by the disc's vacancy concentration N (image force)::

      phi_Bn = phi_Bn0 - (e^3 z N psi / (8 pi^2 eps_phib^3))^(1/4),  psi = phi_Bn0 - phi_n - V_s  (psi > 0)

  thermionic emission for V_s >= 0 (RESET direction), thermionic-field emission (Padovani-Stratton)
  for V_s < 0 (SET direction), with W00 = (q h / 4 pi) sqrt(z N / (m eps)).
* Disc ``R_disc = l_disc/(z e N mu_n A)``, plug ``R_plug = (l_cell - l_disc)/(z e N_plug mu_n A)``, series
  ``R_TiOx + R0 (1 + R0 alpha_line I^2 R_th,line)`` (line heating).
* Ionic current (Mott-Gurney with exact barrier lowering), field over the cell in RESET and over the disc
  in SET, limited by ``1 - (N_min/N)^10`` (RESET) or ``1 - (N/N_max)^10`` (SET); ``dN/dt = -I_ion/(z e A l_disc)``.

The state is ``lnd = ln(N / 1e26 m^-3)``: N spans 0.008 ... 20 (three and a half decades), and a logarithmic
state keeps the simulator's absolute tolerance meaningful over all of it. Its bounds are ``ln(ndiscmin)`` and
``ln(ndiscmax)``, as the original clamps N. The initial state is the low-resistance state ``N = ndiscmax``
(the original starts from ``Ninit = 0.008``, its high-resistance state: pass ``lnd0 = ln(0.008)``). SET is at
negative voltage, RESET at positive, as in the public model.

Two properties of the equations (the original's too) that a user meets:

* In the low-resistance state the barrier lowering exceeds ``phibn0``, so the barrier is 0 up to
  ``V_s = phibn0 - phin`` and jumps to ``phibn0`` within 0.1 mV above it. Between about 0.08 V and the
  voltage where the contact takes that step the read circuit has two DC solutions; a simulator takes the one
  its continuation reaches (a sweep from 0 V stays on the low-barrier one). ``Check.dc`` stays below 0.08 V.
* SET and the end of RESET are thermal runaways: the current heats the filament, which speeds the ions.

Defaults: the JART VCM v1b parameter set of Bengel et al. (2020) (HfO2/TiOx cell). Physical constants
are CODATA 2018 (:mod:`spicegen.constants` and the Planck constant, electron mass and vacuum permittivity below).

Paper: C. Bengel, A. Siemon, F. Cüppers, S. Hoffmann-Eifert, A. Hardtdegen, M. von Witzleben, L. Hellmich,
R. Waser, S. Menzel, "Variability-aware modeling of filamentary oxide-based bipolar resistive switching cells
using SPICE level compact models", IEEE Trans. Circuits Syst. I 67(12), 4618-4630 (2020). The JART group
distributes the Verilog-A (https://www.emrl.de/JART.html; Jülich DATA, doi:10.26165/JUELICH-DATA/LUA8QY);
no copy of it was available for this port, which follows the published equations.
"""
import math

import sympy as sp

from spicegen.constants import BOLTZMANN, ELEMENTARY_CHARGE
from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param, Variation

PLANCK = 6.62607015e-34  # J s
ELECTRON_MASS = 9.1093837015e-31  # kg
EPS0 = 8.8541878128e-12  # F/m
RICHARDSON = 6.01e5  # A/(m^2 K^2), the model's effective Richardson constant
Z_VO = 2.0  # oxygen-vacancy charge number
N_UNIT = 1e26  # concentrations in 1e26 m^-3, as in the original
K_EV = BOLTZMANN / ELEMENTARY_CHARGE  # eV/K
#: Constant factors folded in Python so no tiny number reaches a denominator of a target
#: (ngspice adds 1e-32 to every B-source denominator).
W00_FACTOR = PLANCK / (4 * math.pi) * math.sqrt(N_UNIT / (ELECTRON_MASS * EPS0))  # eV, times sqrt(z N/eps_r)
LOWERING_FACTOR = ELEMENTARY_CHARGE ** 3 * N_UNIT / (8 * math.pi ** 2 * EPS0 ** 3)  # V^4, times z N psi/eps^3
RHO_FACTOR = 1e-9 / (N_UNIT * ELEMENTARY_CHARGE)  # Ohm m^2 ... : l[nm]/(N z mu A) -> Ohm
#: Clamp of the barrier-lowering ratio gamma = z a E/(pi dWa).
GAMMA_MAX = 0.999
#: Temperature node: T = T_REF*exp(V(tk)) (positive for every Newton iterate); its row is the heat balance
#: (T - T0 - P*R_th)/T_REF times G_THERMAL. Written as ln(T) - ln(T0 + P*R_th) instead, the row would need
#: a floor where Newton iterates far from the solution make the power negative, and would be flat there.
T_REF = 293.0
G_THERMAL = 1e-3


def _schottky(s, v_s, n, kt):
    """Current through the Schottky contact for contact voltage ``v_s`` (A)."""
    area = sp.pi * s.rdet ** 2
    psi = sp.Max(s.phibn0 - s.phin - v_s, 0)
    lowering = (LOWERING_FACTOR * Z_VO * n * psi / s.epsphib ** 3) ** sp.Rational(1, 4)
    phibn = sp.Max(s.phibn0 - lowering, 0)
    w00 = W00_FACTOR * sp.sqrt(Z_VO * n / s.eps)
    w0 = w00 / sp.tanh(w00 / kt)
    eps_prime = w00 / (w00 / kt - sp.tanh(w00 / kt))
    temp = kt / K_EV
    tfe = (-area * RICHARDSON * temp / K_EV * sp.sqrt(sp.pi * w00 * (sp.Abs(v_s) + phibn / sp.cosh(w00 / kt) ** 2))
           * sp.exp(-phibn / w0) * (sp.exp(sp.Abs(v_s) / eps_prime) - 1))
    te = area * RICHARDSON * temp ** 2 * sp.exp(-phibn / kt) * (sp.exp(v_s / kt) - 1)
    return sp.Piecewise((tfe, v_s < 0), (te, True))


@register
class JartVcmV1b(Device):
    """JART VCM v1b ReRAM (Bengel et al. 2020): Schottky contact, N-dependent disc, self-heating, ionic SET/RESET."""

    ports = ("te", "be")
    internal = ("sc", "dp", "tk")
    params = (
        Param("t0", 293.0, "K", "ambient temperature", (1.0, 1000.0)),
        Param("eps", 17.0, "", "static relative permittivity of the oxide", (10.0, 25.0)),
        Param("epsphib", 5.5, "", "relative permittivity for image-force barrier lowering", (1.0, 25.0)),
        Param("phibn0", 0.18, "eV", "nominal Schottky barrier height", (0.1, 0.5)),
        Param("phin", 0.1, "eV", "Fermi level to conduction band edge in the oxide", (0.1, 0.3)),
        Param("un", 4e-6, "m^2/(V s)", "electron mobility", (1e-6, 1e-5)),
        Param("ndiscmax", 20.0, "1e26/m^3", "maximum vacancy concentration of the disc", (0.001, 1100.0)),
        Param("ndiscmin", 0.008, "1e26/m^3", "minimum vacancy concentration of the disc", (0.0001, 100.0)),
        Param("nplug", 20.0, "1e26/m^3", "vacancy concentration of the plug", (0.001, 100.0)),
        Param("a", 0.25e-9, "m", "ion hopping distance", (0.1e-9, 1e-9)),
        Param("nyo", 2e13, "1/s", "attempt frequency", (1e10, 1e14)),
        Param("dwa", 1.35, "eV", "activation energy of ion hopping", (0.8, 1.5)),
        Param("rth0", 15.72e6, "K/W", "thermal resistance of the filament", (1e6, 20e6)),
        Param("rdet", 45e-9, "m", "filament radius", (5e-9, 100e-9), Variation("d2d", 0.02, "lognormal")),
        Param("lcell", 3.0, "nm", "length of disc plus plug", (2.0, 5.0)),
        Param("ldet", 0.4, "nm", "length of the disc", (0.1, 5.0), Variation("d2d", 0.05, "lognormal")),
        Param("rtheff_scaling", 0.27, "", "scaling of the thermal resistance in RESET", (0.1, 1.0)),
        Param("rtiox", 650.0, "Ohm", "series resistance of the TiOx layer", (0.0, 5000.0)),
        Param("r0", 719.2437, "Ohm", "line resistance at T0", (0.0, 1e4)),
        Param("rthline", 90471.47, "K/W", "thermal resistance of the line", (0.0, 1e7)),
        Param("alphaline", 3.92e-3, "1/K", "temperature coefficient of the line resistance", (0.0, 0.1)),
    )
    states = (State("lnd", math.log(20.0), (sp.log(sp.Symbol("ndiscmin")), sp.log(sp.Symbol("ndiscmax"))), "",
                    "ln of the disc vacancy concentration / 1e26 m^-3", edge=0.001),)
    # The gradual part of a RESET: SET and the end of RESET are runaways (the filament heats, the ions
    # speed up) in which a time step's worth of rounding moves the switching instant.
    check = Check(
        dc={"te": (-0.8, 0.08)},
        tran={"te": Pwl(((0.0, 0.0), (0.1, 0.8), (1.0, 0.8), (1.1, 0.0)))},
        tstop=1.2,
    )

    def equations(self, s):
        v_cell, v_s, v_dp = s.V("te", "be"), s.V("te", "sc"), s.V("sc", "dp")
        temp = T_REF * sp.exp(s.V("tk"))
        kt = K_EV * temp
        n = sp.exp(s.lnd)
        area = sp.pi * s.rdet ** 2
        i_s = _schottky(s, v_s, n, kt)
        r_disc = RHO_FACTOR * s.ldet / (n * Z_VO * s.un * area)
        r_plug = RHO_FACTOR * (s.lcell - s.ldet) / (s.nplug * Z_VO * s.un * area)
        i_dp = v_dp / (r_disc + r_plug)
        # line heating, with the disc-plug current: the same current at the solution (KCL at dp)
        r_series = s.rtiox + s.r0 * (1 + s.r0 * s.alphaline * i_dp ** 2 * s.rthline)
        reset = v_cell > 0
        rth = sp.Piecewise((s.rth0 * s.rtheff_scaling, reset), (s.rth0, True))
        heated = s.t0 + i_s * (v_s + v_dp) * rth
        field = sp.Piecewise(((v_s + v_dp) / (s.lcell * 1e-9), reset),
                             (v_dp * r_disc / (r_disc + r_plug) / (s.ldet * 1e-9), True))
        # |gamma| < 1 for every field below 8.5 V/nm; the clamp keeps Newton iterates far from the solution real
        gamma = sp.Max(sp.Min(Z_VO * field * s.a / (sp.pi * s.dwa), GAMMA_MAX), -GAMMA_MAX)
        root = sp.sqrt(1 - gamma ** 2) + gamma * sp.asin(gamma)
        w_min, w_max = s.dwa * (root - gamma * sp.pi / 2), s.dwa * (root + gamma * sp.pi / 2)
        limit = sp.Piecewise((1 - (s.ndiscmin / n) ** 10, reset), (1 - (n / s.ndiscmax) ** 10, True))
        hop = (s.nplug + n) / 2 * s.a * s.nyo * (sp.exp(-w_min / kt) - sp.exp(-w_max / kt)) * limit
        dn_dt = -hop / (s.ldet * 1e-9)
        return Equations(
            currents={
                ("te", "sc"): i_s,
                ("sc", "dp"): i_dp,
                ("dp", "be"): s.V("dp", "be") / r_series,
                ("tk",): G_THERMAL * (temp - heated) / T_REF,
            },
            rates={"lnd": dn_dt / n},
        )
