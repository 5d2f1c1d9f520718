"""CMO/HfOx filamentary ReRAM (Falcone et al., arXiv 2502.04524): trap-to-trap tunnelling, self-heating, 8W switching.

Structure (top electrode ``te`` to bottom electrode ``be``)::

    te --[ rs ]-- ci --[ CMO trap-to-trap tunnelling, Eq. 6 ]-- be
                                   ^ local temperature T = T0 + rth*|I*V(ci,be)|  (node tk)

* Transport, Falcone et al. Eq. 6 (Mott-Gurney), written as the difference of the forward and the
  backward hopping rates, which equals ``2*A*e*a*nu0*N*exp(-dE/kT)*sinh(a*e*E/(2kT))``
  exactly and keeps every exponent under the limited-``exp`` guard::

      I = A*e*a_hop*nu0*N*(exp((-dE + a_hop*E/2)/kT) - exp((-dE - a_hop*E/2)/kT))
      A = pi*r_cf**2,  E = V(ci, be)/d_cmo,  energies in eV, kT = k_B*T/e

* State ``x`` (dimensionless) moves the defect density and the hopping barrier along the line
  through the paper's HRS point (x = 0: N = 1.2e18 cm^-3, dE = 80 meV) and LRS point
  (x = 1: 5e19 cm^-3, 65 meV) of Fig. 2d, N log-interpolated, dE linear::

      N  = n_hrs*(n_lrs/n_hrs)**x,   dE = de_hrs + (de_lrs - de_hrs)*x

  The range [-0.1, 1.1] runs past both points, so the quasi-static read states and the
  10-100 uS programmed states lie inside it.
* Self-heating: the internal node ``tk`` carries ln(T/300 K); its KCL row is
  ``V(tk) - ln((T0 + rth*|I*V(ci,be)|)/300 K) = 0``, solved by Newton with the electrical
  nodes, so T is the exact self-consistent solution in all three renderings, and T > 0 at
  every Newton iterate (no clamp, no kink).
* Kinetics (8W polarity): ionic hopping in the same Mott-Gurney form, field from the CMO
  voltage, activated by the local temperature; set (x up) for V(ci, be) > 0, gradual reset
  (x down) for V(ci, be) < 0, generalised soft bounds near the ends of the range::

      dx/dt = nu_set*exp(-ea_set/kT)*2*sinh(a_set*E+/(2kT))*B_set*gate(V_CMO)
            - nu_rst*exp(-ea_rst/kT)*2*sinh(a_rst*E-/(2kT))*B_rst*gate(-V_CMO)
      B_set = (max(x_top - x, 0)/(x_top - X_LO))**(gam_set*(1 + gam_v*y))
      B_rst = ((x - X_LO)/(X_HI - X_LO))**(gam_rst*(1 + gam_v_rst*y))
      gate(v) = 1/(1 + exp((v_th - v)/dv_th))

  The set's bound reaches zero at ``x_top`` (the top of the pulse response, G_max). The gate is the switching
  threshold of threshold-type compact models (VTEAM): below v_th on the CMO neither rate switches, so a 0.2 V
  read leaves the state alone although the fitted set is field-driven.
* Volatile bound ``y`` (0 at rest): it follows a smooth step of the CMO voltage with the time constant
  ``tau_v``, so it reaches 1 under a bias held for milliseconds (a 100 V/s sweep) and stays near 0 in a
  2.5 us pulse; at 1 it steepens both soft bounds by the factors 1 + gam_v and 1 + gam_v_rst (so a device
  whose reset bound is steeper, a d2d draw of gam_rst, is steeper in the sweep and in the pulse alike). The
  quasi-static sweep stops at the LRS and HRS through it, while the pulses see the nearly unbounded rates that
  give flat closed-loop steps::

      dy/dt = (1/(1 + exp((v_vol - |V(ci, be)|)/dv_vol)) - y)/tau_v

Numbers and their sources: ``docs/reram.md``. The fitted values (``a_hop``, the set/reset laws, the volatile
bound's exponents, ``x_top``) and the calibrated variations (d2d of ``n_lrs`` and ``gam_rst`` in one correlated
group, the per-pulse law of ``nu_set`` and ``nu_rst``) are read from the calibration file, which the studies
``reram-calibration``, ``reram-c2c-calibration`` and ``reram-d2d`` rewrite (``--set ship=yes``).

Paper: D. F. Falcone, V. Clerico et al., "All-in-One Analog AI Hardware: On-Chip Training and Inference with
Conductive-Metal-Oxide/HfOx ReRAM Devices", arXiv 2502.04524 (2025).
"""
import sympy as sp

from spicegen.calibration import value, variation
from spicegen.constants import BOLTZMANN, ELEMENTARY_CHARGE
from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param, Variation

#: Ends of the state range (x = 0 is the paper's HRS point, x = 1 its LRS point).
X_LO, X_HI = -0.1, 1.1
#: Reference of the temperature node: T = T_REF*exp(V(tk)), so every Newton iterate has T > 0
#: and a simulator's all-zero start is room temperature (K).
T_REF = 300.0
#: Normalisation of the thermal KCL row (S); any positive value gives the same solution.
G_THERMAL = 1e-3
K_EV = BOLTZMANN / ELEMENTARY_CHARGE  # Boltzmann constant in eV/K
#: Name of the device and of its calibration file (``spicegen/devices/calibration/reram_cmo.json``).
DEVICE = "reram_cmo"
#: The Monte Carlo engine's correlated group of the d2d pair (n_lrs, gam_rst): one filament geometry behind the
#: set and the reset end; the calibration file holds each member's sigma and correlation with the common factor.
D2D_GROUP = "filament"


def _hop(prefactor, barrier, lowering, kt):
    """prefactor*(exp((-barrier + lowering)/kt) - exp((-barrier - lowering)/kt)) = 2*prefactor*exp(-barrier/kt)*sinh(lowering/kt)."""
    return prefactor * (sp.exp((lowering - barrier) / kt) - sp.exp((-lowering - barrier) / kt))


@register
class ReramCmo(Device):
    """CMO/HfOx ReRAM: Mott-Gurney trap-to-trap tunnelling, self-heating, series R, 8W set/reset state."""

    ports = ("te", "be")
    internal = ("ci", "tk")
    params = (
        # geometry and transport (Falcone et al. §4.1, §4.2, Eq. 6, Fig. 2d)
        Param("r_cf", 11e-9, "m", "filament radius at the CMO interface", (1e-10, 1e-6)),
        Param("d_cmo", 20e-9, "m", "CMO thickness carrying the field", (1e-10, 1e-6)),
        Param("a_hop", value(DEVICE, "a_hop"), "m", "electron hopping distance (fitted)", (1e-11, 1e-7)),
        Param("nu0", 1e13, "1/s", "electron attempt frequency (assumed)", (1e6, 1e18)),
        Param("n_hrs", 1.2e24, "1/m^3", "defect density at x = 0 (paper HRS)", (1e15, 1e30)),
        Param("n_lrs", 5e25, "1/m^3", "defect density at x = 1 (paper LRS)", (1e15, 1e30),
              Variation("d2d", distribution="lognormal", group=D2D_GROUP, **variation(DEVICE, "n_lrs"))),
        Param("de_hrs", 0.080, "eV", "hopping barrier at x = 0 (paper HRS)", (0.0, 2.0)),
        Param("de_lrs", 0.065, "eV", "hopping barrier at x = 1 (paper LRS)", (0.0, 2.0)),
        Param("rs", 3.91e3, "Ohm", "series resistance: CMO spreading, filament, electrodes", (1e-3, 1e8)),
        Param("rth", 3.62e6, "K/W", "thermal resistance of the CMO hot spot", (0.0, 1e10)),
        # switching kinetics (assumed laws, fitted prefactors; docs/reram.md)
        Param("nu_set", value(DEVICE, "nu_set"), "1/s", "set rate prefactor (fitted; includes the activation entropy)",
              (0.0, 1e30),
              Variation("c2c", distribution="lognormal", **variation(DEVICE, "nu_set"))),
        Param("ea_set", value(DEVICE, "ea_set"), "eV", "set activation energy (fitted)", (0.0, 5.0)),
        Param("a_set", value(DEVICE, "a_set"), "m", "set ionic hopping distance incl. field enhancement (fitted)",
              (0.0, 1e-7)),
        Param("nu_rst", value(DEVICE, "nu_rst"), "1/s", "reset attempt rate (fitted)", (0.0, 1e30),
              Variation("c2c", distribution="lognormal", **variation(DEVICE, "nu_rst"))),
        Param("ea_rst", value(DEVICE, "ea_rst"), "eV", "reset activation energy (fitted)", (0.0, 5.0)),
        Param("a_rst", value(DEVICE, "a_rst"), "m", "reset ionic hopping distance (fitted)", (0.0, 1e-7)),
        Param("gam_set", value(DEVICE, "gam_set"), "", "soft-bound exponent of the set rate (fitted)", (0.0, 10.0)),
        Param("gam_rst", value(DEVICE, "gam_rst"), "", "soft-bound exponent of the reset rate (fitted)", (0.0, 30.0),
              Variation("d2d", distribution="lognormal", group=D2D_GROUP, **variation(DEVICE, "gam_rst"))),
        Param("x_top", value(DEVICE, "x_top"), "", "state where the set's soft bound reaches zero (fitted: G_max)",
              (0.5, X_HI)),
        # volatile bound (docs/reram.md): y builds up while |V_CMO| > v_vol is held for longer than tau_v
        Param("gam_v", value(DEVICE, "gam_v"), "", "relative growth of the set soft-bound exponent at y = 1 (fitted)",
              (0.0, 100.0)),
        Param("gam_v_rst", value(DEVICE, "gam_v_rst"), "",
              "relative growth of the reset soft-bound exponent at y = 1 (fitted)", (0.0, 100.0)),
        Param("tau_v", 1e-3, "s", "time constant of the volatile state (assumed)", (1e-9, 1e3)),
        Param("v_vol", 0.35, "V", "CMO voltage above which the volatile state builds (assumed)", (0.0, 5.0)),
        Param("dv_vol", 0.03, "V", "width of the volatile state's onset (assumed)", (1e-4, 1.0)),
        # switching threshold (threshold-type compact models, e.g. VTEAM): keeps a 0.2 V read from switching
        Param("v_th", 0.45, "V", "CMO voltage below which neither rate switches (assumed)", (0.0, 5.0)),
        Param("dv_th", 0.02, "V", "width of the switching threshold (assumed)", (1e-4, 1.0)),
    )
    states = (State("x", 0.5, (X_LO, X_HI), "", "position on the HRS-LRS line (0 = paper HRS, 1 = paper LRS)"),
              # y stays inside (0, 1) by its law; the bounds only guard it, away from the gated edges
              State("y", 0.0, (-0.1, 1.1), "", "volatile bound: 1 under a bias held for long, 0 at rest"))
    check = Check(
        dc={"te": (-1.5, 1.5)},
        # two pulses, then a 0.5 V hold long enough to build the volatile state y (tau_v = 1 ms) by 7 %
        tran={"te": Pwl(((0.0, 0.0), (0.5e-6, 1.3), (5e-6, 1.3), (5.5e-6, 0.0), (6e-6, -1.5), (10.5e-6, -1.5),
                         (11e-6, 0.0), (12e-6, 0.0), (13e-6, 0.5), (83e-6, 0.5), (84e-6, 0.0), (85e-6, 0.0)))},
        tstop=85e-6,
    )

    def equations(self, s):
        v_cmo = s.V("ci", "be")
        temp = T_REF * sp.exp(s.V("tk"))
        kt = K_EV * temp  # eV
        area = sp.pi * s.r_cf ** 2
        density = s.n_hrs * (s.n_lrs / s.n_hrs) ** s.x
        barrier = s.de_hrs + (s.de_lrs - s.de_hrs) * s.x
        field = v_cmo / s.d_cmo
        i_cmo = _hop(area * ELEMENTARY_CHARGE * s.a_hop * s.nu0 * density, barrier, s.a_hop * field / 2, kt)
        power = sp.Abs(i_cmo * v_cmo)  # Joule heat of the CMO hot spot
        up = (sp.Max(s.x_top - s.x, 0) / (s.x_top - X_LO)) ** (s.gam_set * (1 + s.gam_v * s.y))
        down = ((s.x - X_LO) / (X_HI - X_LO)) ** (s.gam_rst * (1 + s.gam_v_rst * s.y))
        held = 1 / (1 + sp.exp((s.v_vol - sp.Abs(v_cmo)) / s.dv_vol))
        rate_set = _hop(s.nu_set, s.ea_set, s.a_set * sp.Max(field, 0) / 2, kt) * up / (
            1 + sp.exp((s.v_th - v_cmo) / s.dv_th))
        rate_rst = _hop(s.nu_rst, s.ea_rst, s.a_rst * sp.Max(-field, 0) / 2, kt) * down / (
            1 + sp.exp((s.v_th + v_cmo) / s.dv_th))
        return Equations(
            currents={
                ("te", "ci"): s.V("te", "ci") / s.rs,
                ("ci", "be"): i_cmo,
                ("tk",): G_THERMAL * (s.V("tk") - sp.log((s.T + s.rth * power) / T_REF)),
            },
            rates={"x": rate_set - rate_rst, "y": (held - s.y) / s.tau_v},
            named={"field": field, "density": density, "barrier": barrier, "inv_kt": 1 / kt, "i_cmo": i_cmo,
                   "rate_set": rate_set, "rate_rst": rate_rst},
        )
