"""Reference device: a three-terminal switch with a thresholded write path and a separate read path."""
import sympy as sp

from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param


@register
class ThresholdSwitch(Device):
    """Three-terminal memristive switch: write current w1->com moves the state above a threshold, read path r->com."""

    ports = ("w1", "r", "com")
    params = (
        Param("rw", 1e3, "Ohm", "write-path resistance", (1.0, 1e9)),
        Param("gon", 1e-4, "S", "read conductance at x = 1", (0.0, 1.0)),
        Param("goff", 1e-5, "S", "read conductance at x = 0", (0.0, 1.0)),
        Param("ith", 1e-4, "A", "write threshold current", (0.0, 1.0)),
        Param("kx", 5e8, "1/(A s)", "state speed above threshold", (0.0, 1e15)),
        Param("p", 1.5, "", "exponent of the over-drive law", (1.0, 3.0)),
    )
    states = (State("x", 0.0, (0.0, 1.0), "", "normalised switched fraction"),)
    check = Check(
        dc={"w1": (-0.5, 0.5), "r": (-0.3, 0.3)},
        tran={"w1": Pwl(((0, 0), (1e-6, 0.3), (4e-6, 0.3), (5e-6, 0), (6e-6, -0.3), (8e-6, -0.3), (9e-6, 0))),
              "r": Pwl(((0, 0.1), (9e-6, 0.1)))},
        tstop=9e-6,
    )

    def equations(self, s):
        iw = s.V("w1", "com") / s.rw
        overdrive = sp.Max(sp.Abs(iw) - s.ith, 0)
        return Equations(
            currents={("w1", "com"): iw, ("r", "com"): (s.goff + (s.gon - s.goff) * s.x) * s.V("r", "com")},
            rates={"x": s.kx * sp.sign(iw) * overdrive ** s.p / s.ith ** (s.p - 1)},
        )
