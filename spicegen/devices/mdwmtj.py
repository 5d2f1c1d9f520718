"""SOT-driven magnetic domain-wall MTJ (MDWMTJ), the 3-terminal device of the P²M paper [Kaiser et al. 2024].

Terminals (Kaiser et al. 2024, Fig. 1a): write path ``t1``–``t2`` through the heavy metal (HM), constant
resistance; read path ``t3``–``t2``: the MTJ (pinned layer on top, ``t3``) in series with the HM
segment under the free layer, joined at the internal node ``m``.

State: domain-wall position ``q`` in metres, hard-bounded to [0, l_FL]; q = 0 is all-parallel
(lowest resistance R_P), q = l_FL all-antiparallel (R_AP). A write current from t1 to t2 moves
the wall to the right (accumulation), from t2 to t1 to the left (reset).

Dynamics [Kaiser et al. 2024, §2]: velocity = 2nd-order polynomial of the SOT drive current above a
threshold (depinning) current, in both directions, and exactly zero below it (non-volatile)::

    I_d   = V(t1,t2)/rhm + krd·V(m,t2)/rhmr                (read current in the HM adds a share krd)
    I_f   = min(|I_d|, imax)                                (no extrapolation beyond the fitted range)
    ramp  = clip((|I_d| − ith)/(dith·ith), 0, 1)            (0 below ith: exactly no motion)
    dq/dt = sign(I_d)·max(c0 + c1·I_f + c2·I_f², 0)·ramp

The short linear onset ramp (ith … ith·(1 + dith)) keeps the rate continuous, so the simulators
need no breakpoint at the threshold crossing; in the 1D model the averaged velocity rises like
√(I − I_c) over about the same band.

The defaults of c0, c1, c2, ith and imax are calibrated values, read from
``spicegen/devices/calibration/mdwmtj.json``. The study ``dw-velocity`` (``fitting/mdwmtj/dw_velocity.py``)
produces them: the 1D (q, φ) model of a DMI wall driven by spin-Hall torque [Martinez et al. JAP 115,
213909 (2014)] integrated for the Pt/CoFe/MgO stack and fitted with lmfit over 47–252 µA (relative
RMSE 0.78 %); ith is that model's depinning current, imax the upper end of the fitted range
(``spicegen study run dw-velocity --set ship=yes`` rewrites the file).
``tests/mdwmtj/test_mdwmtj_velocity.py`` re-runs the fit and compares.

Read resistance [Kaiser et al. 2024, §2; Sengupta et al. TBioCAS 2016]: three MTJs in parallel — the AP domain
(length q − w/2), the wall region (w = min(wdw, 2q, 2(l_FL − q)), the wall shrinking at the ends)
and the P domain (l_FL − q − w/2) — sharing the MTJ bias V = V(t3, m)::

    G_P = 1/rp,  G_AP(V) = 1/(rp·(1 + TMR(V))),  TMR(V) = tmr0/(1 + (V/vh)²)
    G_N = G_P + kn·(G_AP − G_P)                           (kn = 1/2: Slonczewski's cos θ law at 90°)
    G_MTJ = (G_AP·L_AP + G_N·w + G_P·L_P)/l_FL            R_MTJ(0) = rp, R_MTJ(l_FL) = R_AP
    R_T3T2 = 1/G_MTJ + rhmr

R_MTJ is non-linear in q (1/G with G affine in q) and falls with bias (TMR roll-off).
All numbers and their sources: docs/mdwmtj.md.

Paper: M. A.-A. Kaiser, G. Datta, P. A. Beerel, A. R. Jaiswal, "Toward High Performance, Programmable
Extreme-Edge Intelligence for Neuromorphic Vision Sensors Utilizing Magnetic Domain Wall Motion-Based MTJ" (2024).
"""
import sympy as sp

from spicegen.calibration import value
from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param, Variation

L_FL = 500e-9
"""Free-layer length l_FL (m), our default (the paper gives none). It is the state's hard bound, and
the DSL's bounds are constants, so it is fixed per device class rather than an instance parameter."""

#: "20 % MDWMTJ resistance variation" [Kaiser et al. 2024, §3.2] read as a 3σ range (pairs with the 3σ transistor corners).
RP_SIGMA_3SIGMA = 0.20 / 3
#: The same read as one standard deviation (the other possible reading; pass it to the MC engine to use it).
RP_SIGMA_1SIGMA = 0.20


@register
class Mdwmtj(Device):
    """SOT domain-wall MTJ: write path t1-t2 (heavy metal) moves the wall above a threshold, read path t3-t2."""

    ports = ("t1", "t3", "t2")
    internal = ("m",)
    params = (
        Param("rhm", 1000.0, "Ohm", "write-path heavy-metal resistance t1-t2 (constant)", (1.0, 1e7)),
        Param("rp", 1000.0, "Ohm", "MTJ parallel-state resistance R_P", (1.0, 1e9),
              Variation("d2d", RP_SIGMA_3SIGMA, "normal", relative=True)),
        Param("tmr0", 2.0, "", "zero-bias TMR ratio (R_AP - R_P)/R_P", (0.0, 10.0)),
        Param("vh", 0.5, "V", "MTJ bias at which the TMR halves", (0.01, 10.0)),
        Param("kn", 0.5, "", "wall-region conductance weight: G_N = G_P + kn (G_AP - G_P)", (0.0, 1.0)),
        Param("wdw", 18.85e-9, "m", "domain-wall width (pi Delta)", (0.0, L_FL)),
        Param("rhmr", 416.7, "Ohm", "heavy-metal resistance in the read path (m-t2)", (1e-3, 1e7)),
        Param("krd", 0.5, "", "share of the read current that drives the wall through the heavy metal", (0.0, 1.0)),
        Param("ith", value("mdwmtj", "ith"), "A", "threshold (depinning) current; |I| below it moves nothing", (1e-12, 1.0)),
        Param("dith", 0.1, "", "width of the onset ramp above ith, relative to ith", (1e-6, 10.0)),
        Param("imax", value("mdwmtj", "imax"), "A", "upper end of the fitted current range; the velocity is held above it", (1e-9, 1.0)),
        Param("c0", value("mdwmtj", "c0"), "m/s", "velocity polynomial, constant term", (-1e4, 1e4)),
        Param("c1", value("mdwmtj", "c1"), "m/(s A)", "velocity polynomial, linear term", (-1e12, 1e12)),
        Param("c2", value("mdwmtj", "c2"), "m/(s A^2)", "velocity polynomial, quadratic term", (-1e16, 1e16)),
    )
    states = (State("q", 0.0, (0.0, L_FL), "m", "domain-wall position (0: parallel, l_FL: antiparallel)",
                    scale=L_FL),)
    # Write: accumulate at 150 uA for 1 ns, hold a sub-threshold drive (10 uA write + half of a
    # ~30 uA read current), pull back at -100 uA, reset at -250 uA into the lower bound; then a
    # 0.4 V read pulse whose read current alone (krd of ~280 uA) moves the wall (read disturb).
    check = Check(
        dc={"t1": (-0.4, 0.4), "t3": (-0.6, 0.6)},
        tran={"t1": Pwl(((0.0, 0.0), (1e-9, 0.0), (1.01e-9, 0.15), (2.01e-9, 0.15), (2.02e-9, 0.0),
                         (3e-9, 0.0), (3.01e-9, 0.01), (5e-9, 0.01), (5.01e-9, -0.1), (5.51e-9, -0.1),
                         (5.52e-9, 0.0), (6.5e-9, 0.0), (6.51e-9, -0.25), (8.5e-9, -0.25), (8.51e-9, 0.0),
                         (10e-9, 0.0))),
              "t3": Pwl(((0.0, 0.05), (8.6e-9, 0.05), (8.61e-9, 0.4), (9.6e-9, 0.4), (9.61e-9, 0.05),
                         (10e-9, 0.05)))},
        tstop=10e-9,
    )

    def equations(self, s):
        q = s.q
        v_mtj = s.V("t3", "m")
        i_read = s.V("m", "t2") / s.rhmr
        i_write = s.V("t1", "t2") / s.rhm
        drive = i_write + s.krd * i_read
        mag = sp.Abs(drive)
        i_fit = sp.Min(mag, s.imax)
        speed = sp.Max(s.c0 + s.c1 * i_fit + s.c2 * i_fit ** 2, 0)
        onset = sp.Min(sp.Max((mag - s.ith) / (s.dith * s.ith), 0), 1)
        rate = sp.sign(drive) * speed * onset

        tmr = s.tmr0 / (1 + (v_mtj / s.vh) ** 2)
        g_p = 1 / s.rp
        g_ap = 1 / (s.rp * (1 + tmr))
        g_n = g_p + s.kn * (g_ap - g_p)
        wall = sp.Min(s.wdw, 2 * q, 2 * (L_FL - q))
        g_mtj = (g_ap * (q - wall / 2) + g_n * wall + g_p * (L_FL - q - wall / 2)) / L_FL
        return Equations(
            currents={("t1", "t2"): i_write, ("t3", "m"): g_mtj * v_mtj, ("m", "t2"): i_read},
            rates={"q": rate},
        )
