"""Yakopcic memristor model: sinh conduction, threshold-gated exponential state motion, exponential windows.

Equations (Yakopcic et al. 2011, Eqs. 1-6; the same in the 2013 generalised model)::

    I = a1*x*sinh(b*V)                 V >= 0
        a2*x*sinh(b*V)                 V <  0
    g(V) = Ap*(exp(V) - exp(Vp))       V >  Vp
           -An*(exp(-V) - exp(Vn))     V < -Vn
           0                           otherwise
    f(x) = exp(-alphap*(x - xp))*wp(x)         eta*V >= 0 and x >= xp
           exp(alphan*(x + xn - 1))*wn(x)      eta*V <  0 and x <= 1 - xn
           1                                   otherwise
    wp(x) = (xp - x)/(1 - xp) + 1,   wn(x) = x/(1 - xn)
    dx/dt = eta*g(V)*f(x)

The defaults are the preset ``model=0`` ("RRAM") of the public Verilog-A below; its other six presets are
parameter sets of this same port (``tests/zoo/test_zoo.py`` compares all seven).

Paper: C. Yakopcic, T. M. Taha, G. Subramanyam, R. E. Pino, R. Rogers, "A memristor device model",
IEEE Electron Device Letters 32(10), 1436-1438 (2011).
Verilog-A compared with: https://github.com/asultan123/Memristor-Models, commit
561a3e14e981adf0ce5659464b18957c54c5f7a4, ``Yagopcic_verilogA/veriloga/veriloga.va`` (module
``Yagopcic_verilogA``; the repository states no licence, so its text is not shipped here). Under openvaf-r
its read I-V equals this port's to 1e-9; in transient its ``idt(..., xo)`` starts the state at 0 instead of
``xo`` (the initial condition is dropped), which this port's state node does not.
"""
import sympy as sp

from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param, Variation


@register
class Yakopcic(Device):
    """Yakopcic memristor (EDL 2011): a1*x*sinh(b*V), threshold exponential drive g(V), windows f(x)."""

    ports = ("te", "be")
    params = (
        Param("a1", 0.165, "A", "current scale for V >= 0", (0.0, 1e3), Variation("d2d", 0.05, "lognormal")),
        Param("a2", 0.165, "A", "current scale for V < 0", (0.0, 1e3), Variation("d2d", 0.05, "lognormal")),
        Param("b", 0.05, "1/V", "curvature of the sinh conduction", (0.0, 100.0)),
        Param("vp", 2.86, "V", "positive switching threshold", (0.0, 20.0), Variation("c2c", 0.01)),
        Param("vn", 3.56, "V", "negative switching threshold (magnitude)", (0.0, 20.0), Variation("c2c", 0.01)),
        Param("ap", 5.5e8, "1/s", "state speed above the positive threshold", (0.0, 1e15)),
        Param("an", 4.0e8, "1/s", "state speed beyond the negative threshold", (0.0, 1e15)),
        Param("xp", 0.9, "", "state where motion for positive drive starts to decay", (0.0, 0.999)),
        Param("xn", 0.9, "", "1 - xn: state where motion for negative drive starts to decay", (0.0, 0.999)),
        Param("alphap", 20.0, "", "decay rate of the positive-drive window", (0.0, 1e3)),
        Param("alphan", 20.0, "", "decay rate of the negative-drive window", (0.0, 1e3)),
        Param("eta", 1.0, "", "direction of state motion relative to the voltage (+1 or -1)", (-1.0, 1.0)),
    )
    states = (State("x", 0.01, (0.0, 1.0), "", "state variable (0 = off, 1 = on)"),)
    check = Check(
        dc={"te": (-3.0, 3.0)},
        tran={"te": Pwl(((0.0, 0.0), (5e-9, 2.9), (20e-9, 2.9), (25e-9, 0.0), (30e-9, -3.6), (45e-9, -3.6),
                         (50e-9, 0.0), (60e-9, 0.0)))},
        tstop=60e-9,
    )

    def equations(self, s):
        v, x = s.V("te", "be"), s.x
        current = sp.Piecewise((s.a1 * x * sp.sinh(s.b * v), v >= 0), (s.a2 * x * sp.sinh(s.b * v), True))
        drive = sp.Piecewise((s.ap * (sp.exp(v) - sp.exp(s.vp)), v > s.vp),
                             (-s.an * (sp.exp(-v) - sp.exp(s.vn)), v < -s.vn), (0, True))
        wp = (s.xp - x) / (1 - s.xp) + 1
        wn = x / (1 - s.xn)
        window = sp.Piecewise(
            (sp.Piecewise((sp.exp(-s.alphap * (x - s.xp)) * wp, x >= s.xp), (1, True)), s.eta * v >= 0),
            (sp.Piecewise((sp.exp(s.alphan * (x + s.xn - 1)) * wn, x <= 1 - s.xn), (1, True)), True))
        return Equations(currents={("te", "be"): current}, rates={"x": s.eta * drive * window})
