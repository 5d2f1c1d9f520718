"""Camsari STT-MTJ: a two-terminal magnetic tunnel junction with a monodomain free layer (LLG + spin torque).

Equations (Camsari, Ganguly, Datta 2015; the libSpin Verilog-AMS below, modules ``ls_mtj_transport`` and
``ls_monodomain_noiseless_llg``)::

    I(p, n) = g0 * (1 + p1*p2 * mf.m) * V(p, n)                      (mf: fixed layer, m: free layer)
    s       = g0 * p1 * V(p, n) * (a * mf + b * mf x m)              (spin current into the free layer, A)
    h       = (kx*mx, ky*my, kz*mz) + (hx, hy, hz)/hk                (field in units of hk)
    tdl * dm/dt = -(m x h + alpha * m x (m x h) + kstt * (alpha * m x s + m x (m x s)))
    tdl = (1 + alpha^2)/(gamma * hk),   kstt = hbar/(2 q ms area tfm hk * 1e-1)
    m = (sin(lat), cos(lat) sin(phi), cos(lat) cos(phi)):
    dlat/dt = (dm/dt)_x / cos(lat),   dphi/dt = (mz (dm/dt)_y - my (dm/dt)_z) / cos(lat)^2

The port is the original's MTJ with its free-layer side (``t2c``) at ground: the spin current the free
layer receives is the original's ``s2`` with ``V(t2c) = 0`` and no external spin current (the original's
spin terminals shunted by ``gsh``), fed into the LLG of the original's ``ls_monodomain_noiseless_llg``
(``libspinllg.vams``). The free layer's magnetisation is two angles, so ``|m| = 1`` holds exactly: the
original integrates mx, my, mz, whose ``m = 0`` is a fixed point of the LLG, where a simulator's
operating point from zero node voltages lands (the port's zero is +z, an equilibrium at zero bias). The original's leak
``1e-12 * m`` "for stability" is radial and so has no counterpart. The angles' poles are +-x, the hard
axis (``kx = -150``), which the demagnetisation field keeps m away from. Without thermal noise, a free
layer exactly (anti)parallel to the fixed layer feels no torque: the default fixed layer is tilted
0.1 rad from +z towards +y (``mfy = 0, mfz = 1`` is the collinear stack). Field in Oe, magnetisation
in emu/cm^3, geometry in m (the original's mixed units; ``kstt``'s 1e-1 is its A-to-Oe conversion).
ħ and q are CODATA 2018 (the original uses ``constants.vams``).

Paper: K. Y. Camsari, S. Ganguly, S. Datta, "Modular approach to spintronics", Scientific Reports 5, 10571
(2015). Verilog-AMS compared with: libSpin 1.0.0alpha (S. Ganguly, K. Y. Camsari, Supriyo Datta group,
Purdue University, 2014; free to modify, copy and redistribute with its notice kept), as mirrored in
https://github.com/CRTejaswi/mtj, commit d4a59c65ad078319a65579b7a9ae333cd53a20a8,
``models/camsari2013/VERILOG-AMS/vams/libspinmtj.vams``. openvaf-r refuses it unmodified (``ground gnd``
without a discipline); with ``electrical gnd;`` added before ``ground gnd;`` it compiles with no warning,
and its read I-V with the magnetisations held by sources equals this port's. The LLG is compared with
the original's equations only through this port's own check (numpy, ngspice twin and OSDI, VACASK).
"""
import sympy as sp

from spicegen.constants import ELEMENTARY_CHARGE
from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param, Variation

HBAR = 6.62607015e-34 / (2 * 3.141592653589793)
"""Reduced Planck constant ħ (J s), CODATA 2018."""


def _cross(u, v):
    """The cross product u x v of two 3-tuples."""
    return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])


def _torque(m, field, alpha):
    """m x f + alpha * m x (m x f): precession and damping about ``field``."""
    mxf = _cross(m, field)
    mxmxf = _cross(m, mxf)
    return tuple(p + alpha * d for p, d in zip(mxf, mxmxf))


@register
class CamsariMtj(Device):
    """Camsari STT-MTJ (Camsari, Ganguly, Datta 2015): free-layer LLG with Slonczewski spin torque."""

    ports = ("p", "n")
    params = (
        Param("g0", 1e-3, "S", "unpolarised conductance", (1e-12, 1e3),
              Variation("d2d", 0.05, "normal", relative=True)),
        Param("p1", 0.5, "", "spin polarisation of the fixed layer", (0.0, 1.0)),
        Param("p2", 0.5, "", "spin polarisation of the free layer", (0.0, 1.0)),
        Param("a", 1.0, "", "in-plane (Slonczewski) spin-torque coefficient", (0.0, 1e3)),
        Param("b", 0.0, "", "out-of-plane (field-like) spin-torque coefficient", (0.0, 1e3)),
        Param("mfx", 0.0, "", "fixed-layer magnetisation, x", (-1.0, 1.0)),
        Param("mfy", 0.09983341664682815, "", "fixed-layer magnetisation, y", (-1.0, 1.0)),
        Param("mfz", 0.9950041652780258, "", "fixed-layer magnetisation, z", (-1.0, 1.0)),
        Param("alpha", 0.01, "", "Gilbert damping", (1e-6, 10.0)),
        Param("gamma", 17.6e6, "1/(Oe s)", "gyromagnetic ratio", (1.0, 1e12)),
        Param("tfm", 2e-9, "m", "free-layer thickness", (1e-12, 1e-3)),
        Param("area", 80e-9 * 100e-9, "m^2", "free-layer cross-section", (1e-24, 1e-6)),
        Param("ms", 1000.0, "emu/cm^3", "saturation magnetisation", (1e-3, 1e5)),
        Param("hk", 40.0, "Oe", "anisotropy field", (1e-3, 1e6), Variation("c2c", 0.01)),
        Param("kx", -150.0, "", "internal field along x per mx, in units of hk (demagnetisation)", (-1e6, 1e6)),
        Param("ky", 0.0, "", "internal field along y per my, in units of hk", (-1e6, 1e6)),
        Param("kz", 1.0, "", "internal field along z per mz, in units of hk (easy axis)", (-1e6, 1e6)),
        Param("hx", 0.0, "Oe", "external field, x", (-1e6, 1e6)),
        Param("hy", 0.0, "Oe", "external field, y", (-1e6, 1e6)),
        Param("hz", 0.0, "Oe", "external field, z", (-1e6, 1e6)),
    )
    # m = (sin(lat), cos(lat) sin(phi), cos(lat) cos(phi)): |m| = 1 exactly, and the zero of both
    # states is +z, an equilibrium at zero bias, where a simulator's operating point starts. (In
    # Cartesian states m = 0 is a fixed point of the LLG, and the operating point lands there.)
    states = (
        State("lat", 0.0, unit="rad", desc="free-layer latitude out of the y-z plane: mx = sin(lat)", scale=0.1),
        State("phi", 0.0, unit="rad", desc="free-layer azimuth in the y-z plane, from +z towards +y"),
    )
    # From parallel at zero bias, -2 V (spin torque about 7x the critical one) switches the free layer
    # to antiparallel in about 1.3 ns; the device is then read at 0.1 V. A weaker drive switches after
    # more precession cycles (about 0.7 ns each), whose phase the simulators' trapezoidal steps (at most
    # tstop/1000) lose by more than the check's 1e-3 (-1 V over 6 ns: 4e-3).
    check = Check(
        dc={"p": (-0.5, 0.5)},
        tran={"p": Pwl(((0.0, 0.0), (0.1e-9, 0.0), (0.15e-9, -2.0), (1.8e-9, -2.0), (1.85e-9, 0.1), (3e-9, 0.1)))},
        tstop=3e-9,
    )

    def equations(self, s):
        m = (sp.sin(s.lat), sp.cos(s.lat) * sp.sin(s.phi), sp.cos(s.lat) * sp.cos(s.phi))
        mf = (s.mfx, s.mfy, s.mfz)
        v = s.V("p", "n")
        current = s.g0 * (1 + s.p1 * s.p2 * sum(u * w for u, w in zip(mf, m))) * v
        spin = tuple(s.g0 * s.p1 * v * (s.a * f + s.b * c) for f, c in zip(mf, _cross(mf, m)))
        field = (s.kx * m[0] + s.hx / s.hk, s.ky * m[1] + s.hy / s.hk, s.kz * m[2] + s.hz / s.hk)
        kstt = HBAR / (2 * ELEMENTARY_CHARGE * s.ms * s.area * s.tfm * s.hk * sp.Rational(1, 10))
        tdl = (1 + s.alpha**2) / (s.gamma * s.hk)
        # the original's STT term: alpha*kstt*(m x s) + kstt*m x (m x s), i.e. _torque's weights swapped
        stt_prec = _cross(m, spin)
        stt_damp = _cross(m, stt_prec)
        dm = [-(t + kstt * (s.alpha * prec + damp)) / tdl
              for t, prec, damp in zip(_torque(m, field, s.alpha), stt_prec, stt_damp)]
        return Equations(currents={("p", "n"): current},
                         rates={"lat": dm[0] / sp.cos(s.lat),
                                "phi": (m[2] * dm[1] - m[1] * dm[2]) / sp.cos(s.lat)**2})
