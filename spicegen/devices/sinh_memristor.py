"""Reference device: a memristor with sinh conduction and a bounded, voltage-driven state."""
import sympy as sp

from spicegen.device import Check, Device, Equations, Sine, State, register
from spicegen.params import Param, Variation


@register
class SinhMemristor(Device):
    """Memristor with sinh conduction and a bounded state driven by sinh(a*v)."""

    ports = ("p", "n")
    params = (
        Param("i0", 1e-6, "A", "conduction prefactor", (0.0, 1.0), Variation("d2d", 0.1, "lognormal")),
        Param("a", 3.0, "1/V", "conduction non-linearity", (0.0, 50.0)),
        Param("k", 1e3, "1/s", "state speed", (0.0, 1e12), Variation("c2c", 0.05)),
        Param("ioff", 0.05, "", "conduction at w = 0 relative to i0", (0.0, 10.0)),
    )
    states = (State("w", 0.1, (0.0, 1.0), "", "normalised filament length"),)
    check = Check(dc={"p": (-1.5, 1.5)}, tran={"p": Sine(1.2, 1e3)}, tstop=2e-3)

    def equations(self, s):
        v = s.V("p", "n")
        return Equations(
            currents={("p", "n"): s.i0 * (s.ioff + s.w) * sp.sinh(s.a * v)},
            rates={"w": s.k * sp.sinh(s.a * v)},
        )
