"""Kinematic domain-wall MTJ: a three-terminal DW-MTJ whose wall has a position and a velocity.

Equations (Edwards et al. 2025; the public Verilog-A below)::

    R_R = (l_tr - (mtj_l + mtj_r)/2)/l_tr * r_tr,   R_L = r_tr - R_R      (track split at the MTJ centre)
    I(l, a) = V(l, a)/R_L,   I(r, a) = V(r, a)/R_R,   I(a, m) = V(a, m)/r_m
    J = I(l, a)/area   (wall left of the MTJ centre),   I(a, r)/area   (right of it)
    dvel/dt = -10*d0*vel                                           |J| < p0 and |vel| < p1  (pinned)
              sign(J)*(k0 + k1|J| + k2|J|^2 + k3|J|^3 + k4|J|^4) - (d0 + d1|J|)*vel      otherwise
    dx/dt   = vel,   0 <= x <= l_tr
    1/r_m   = ((x - mtj_l)/r_ap + (mtj_r - x)/r_p)/(mtj_r - mtj_l), r_p left of the MTJ, r_ap right of it

The track current pushes the wall with a quartic acceleration in the current density, damped in
proportion to the velocity; below the pinning current density and velocity the wall stops within
about 1/(10*d0) = 2 ns. The defaults are those of the public Verilog-A (its material corner of
Edwards et al. 2025).

Paper: A. J. Edwards, K. Doleh, L. Humphrey, C. M. Linseisen, M. D. Kitcher, J. M. Martin, C. Cui,
J. A. C. Incorvia, F. Garcia-Sanchez, N. Hassan, J. S. Friedman, "Kinematic Model of Magnetic Domain Wall
Motion for Fast, High-Accuracy Simulations" (2025).
Verilog-A compared with: https://github.com/AJEdwards314/KinematicDomainWallModel, commit
4934d1c4110d2377a49278586dfad8a8cbb8b29c, ``veriloga/veriloga.va`` (module ``DW_MTJ``, GPL-3.0; the test reads it from
``tests/zoo/originals/kinematic_dw_mtj.va`` and skips when it is absent). The original keeps x, its velocity and the previous time in
variables set in ``@(initial_step)``; under openvaf-r that block runs at every evaluation, so its wall never
leaves ``X_init``: its read I-V equals this port's at ``x = x0`` to 1e-15, and in transient it does not
move at all. At the track ends the original bounces (velocity times -C_R); the port's wall stops at the
bound (the rate is gated there), its velocity decaying with the damping.
"""
import sympy as sp

from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param, Variation

L_TR = 120e-9
"""Default track length (m), the original's; the state's scale."""


def _onset(value, threshold, width):
    """0 below ``threshold``, 1 above ``threshold*(1 + width)``, linear between."""
    return sp.Min(sp.Max((value - threshold) / (width * threshold), 0), 1)


@register
class KinematicDwmtj(Device):
    """Kinematic DW-MTJ (Edwards et al. 2025): wall position and velocity driven by the track current."""

    ports = ("l", "r", "m")
    internal = ("a",)
    params = (
        Param("r_p", 10e3, "Ohm", "MTJ resistance with the wall right of the MTJ (parallel)", (1.0, 1e9),
              Variation("d2d", 0.05, "normal", relative=True)),
        Param("r_ap", 30e3, "Ohm", "MTJ resistance with the wall left of the MTJ (antiparallel)", (1.0, 1e9),
              Variation("d2d", 0.05, "normal", relative=True)),
        Param("r_tr", 3.9e3, "Ohm", "track resistance l-r, split at the MTJ centre", (1e-3, 1e9)),
        Param("l_tr", L_TR, "m", "track length", (1e-9, 1e-3)),
        Param("mtj_l", 20e-9, "m", "position of the MTJ's left edge", (0.0, 1e-3)),
        Param("mtj_r", 100e-9, "m", "position of the MTJ's right edge", (0.0, 1e-3)),
        Param("area", 60e-18, "m^2", "cross-section of the heavy-metal track", (1e-21, 1e-9)),
        Param("k0", 8860118.3062847, "m/s^2", "drive acceleration, constant term", (-1e20, 1e20)),
        Param("k1", -0.00487689910818454, "m^3/(s^2 A)", "drive acceleration, term in |J|", (-1e20, 1e20)),
        Param("k2", -1.2056181829813014e-15, "m^5/(s^2 A^2)", "drive acceleration, term in |J|^2", (-1e20, 1e20)),
        Param("k3", 4.894801586150407e-27, "m^7/(s^2 A^3)", "drive acceleration, term in |J|^3", (-1e20, 1e20)),
        Param("k4", -3.611453763100189e-39, "m^9/(s^2 A^4)", "drive acceleration, term in |J|^4", (-1e20, 1e20)),
        Param("d0", 49154617.19999064, "1/s", "velocity damping, constant term", (0.0, 1e15)),
        Param("d1", 6.736395204757528e-05, "m^2/(s A)", "velocity damping, term in |J|", (0.0, 1e15)),
        Param("p0", 80e9, "A/m^2", "pinning current density", (1.0, 1e15), Variation("c2c", 0.01)),
        Param("p1", 0.25, "m/s", "pinning velocity", (1e-9, 1e3)),
        Param("dp", 0.05, "", "width of the depinning onset above p0 and p1, relative to them", (1e-6, 1.0)),
    )
    states = (
        State("x", 0.0, (0.0, "l_tr"), "m", "domain-wall position along the track", scale=L_TR),
        State("vel", 0.0, (-50.0, 50.0), "m/s", "domain-wall velocity", scale=10.0),
    )
    # -+50 mV across the track (about 13 uA, |J| 2.2e11 A/m^2, above the pinning p0): the wall runs
    # right into the MTJ, stops when the drive is removed, and is pulled back; m is read at 0.1 V.
    check = Check(
        dc={"l": (-0.1, 0.1), "r": (-0.1, 0.1), "m": (-1.0, 1.0)},
        tran={"l": Pwl(((0.0, 0.0), (1e-9, 0.0), (1.2e-9, -0.05), (6e-9, -0.05), (6.2e-9, 0.0), (8e-9, 0.0),
                        (8.2e-9, 0.05), (11e-9, 0.05), (11.2e-9, 0.0), (20e-9, 0.0))),
              "m": Pwl(((0.0, 0.1), (20e-9, 0.1)))},
        tstop=20e-9,
    )

    def equations(self, s):
        x, vel = s.x, s.vel
        r_right = (s.l_tr - (s.mtj_l + s.mtj_r) / 2) / s.l_tr * s.r_tr
        r_left = s.r_tr - r_right
        i_left = s.V("l", "a") / r_left
        i_right = s.V("a", "r") / r_right
        i_track = sp.Piecewise((i_left, x < (s.mtj_l + s.mtj_r) / 2), (i_right, True))
        # |J| in units of p0, held below 1e6 p0 (far beyond the fit) so that sympy keeps u**4 whole:
        # expanded, area**4 (1e-65) would be a denominator below ngspice's 1e-32 fudge.
        u = sp.Min(sp.Abs(i_track) / (s.area * s.p0), 1e6)
        j = u * s.p0
        drive = sp.sign(i_track) * (s.k4 * s.p0**4 * u**4 + s.k3 * s.p0**3 * u**3 + s.k2 * s.p0**2 * u**2
                                    + s.k1 * j + s.k0)
        free = sp.Max(_onset(u, 1, s.dp), _onset(sp.Abs(vel), s.p1, s.dp))
        pinned = -10 * s.d0 * vel
        accel = pinned + free * (drive - (s.d0 + s.d1 * j) * vel - pinned)
        g_mtj = sp.Piecewise((1 / s.r_p, x <= s.mtj_l), (1 / s.r_ap, x >= s.mtj_r),
                             (((x - s.mtj_l) / s.r_ap + (s.mtj_r - x) / s.r_p) / (s.mtj_r - s.mtj_l), True))
        return Equations(
            currents={("l", "a"): i_left, ("r", "a"): s.V("r", "a") / r_right, ("a", "m"): g_mtj * s.V("a", "m")},
            rates={"x": vel, "vel": accel},
        )
