"""Reference device: a junction diode with series resistance (internal node) and temperature."""
import sympy as sp

from spicegen.constants import BOLTZMANN, ELEMENTARY_CHARGE
from spicegen.device import Check, Device, Equations, Sine, register
from spicegen.params import Param, Variation


@register
class DiodeRs(Device):
    """Shockley diode with ohmic series resistance and thermal voltage k*T/q."""

    ports = ("a", "c")
    internal = ("ai",)
    params = (
        Param("is_", 1e-14, "A", "saturation current", (0.0, 1.0), Variation("local", 0.2, "lognormal")),
        Param("n", 1.0, "", "ideality factor", (0.5, 5.0)),
        Param("rs", 10.0, "Ohm", "series resistance", (1e-3, 1e6), Variation("global", 0.05)),
    )
    check = Check(dc={"a": (-1.0, 1.0)}, tran={"a": Sine(1.0, 1e3)}, tstop=1e-3)

    def equations(self, s):
        vt = BOLTZMANN * s.T / ELEMENTARY_CHARGE
        return Equations(currents={
            ("a", "ai"): s.V("a", "ai") / s.rs,
            ("ai", "c"): s.is_ * (sp.exp(s.V("ai", "c") / (s.n * vt)) - 1),
        })
