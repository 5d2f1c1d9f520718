"""Pristine CMO/HfOx ReRAM during electro-forming (Falcone et al., §2.1.1): gap tunnelling and field-driven breakdown.

Structure (top electrode ``te`` to bottom electrode ``be``)::

    te --[ filament grown through the HfOx, remaining gap g = t_ox*(1 - f), formed CMO ]-- be

* State ``f`` (formed fraction, 0 = pristine, 1 = formed): the conductive filament grows through
  the HfOx from one electrode; the remaining gap is ``g = t_ox*(1 - f)``.
* Conduction, the gap form of Guan, Yu and Wong (IEEE TED 59, 1172, 2012), written as a difference
  of exponentials so every exponent stays under the limited-``exp`` guard::

      I = i0*exp(-g/g0)*sinh(V/v0)

  At f = 0 this is the leakage of the pristine 4 nm HfOx; at f = 1 the gap is closed and
  ``i0*sinh(V/v0)`` is the formed device (filament and as-formed CMO): low-field resistance
  ``v0/i0``, super-linear at high voltage as the CMO hopping conduction of Falcone et al. Eq. 6.
* Breakdown (thermochemical E-model: oxygen-vacancy generation over the formation energy ``ea``,
  lowered by the field across the remaining gap, Arrhenius at the device temperature T)::

      df/dt = (a0/t_ox)*nu*exp(-max(ea - p_dip*E, e_min)/kT),   E = max(V, 0)/(g + a0)

  Each generation event advances the filament tip by one hop ``a0``. As the gap closes the gap
  field rises, so the breakdown runs away (soft breakdown) until the access transistor limits the
  current. Once the field has removed the formation barrier, growth is limited by the ionic
  migration barrier ``e_min``, which also keeps the runaway resolvable by a circuit simulator.

Numbers and their sources: ``docs/reram_studies.md``. The fitted dipole moment ``p_dip`` and the d2d
spread of ``t_ox`` are read from the calibration file, which the study ``reram-forming`` rewrites
(``--set ship=yes``).
"""
import sympy as sp

from spicegen.calibration import value, variation
from spicegen.constants import BOLTZMANN, ELEMENTARY_CHARGE
from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param, Variation

K_EV = BOLTZMANN / ELEMENTARY_CHARGE  # Boltzmann constant in eV/K
#: Name of the device and of its calibration file (``spicegen/devices/calibration/hfox_forming.json``).
DEVICE = "hfox_forming"


@register
class HfoxForming(Device):
    """Pristine HfOx forming: gap tunnelling leakage, field-accelerated V_O generation, formed filament."""

    ports = ("te", "be")
    params = (
        # pristine oxide and conduction (Falcone et al. Fig. S1, §4.2; Guan et al. 2012)
        Param("t_ox", 4e-9, "m", "pristine HfOx thickness", (1e-10, 1e-7),
              Variation("d2d", distribution="normal", **variation(DEVICE, "t_ox"))),
        Param("g0", 0.2747e-9, "m", "gap tunnelling decay length", (1e-12, 1e-8)),
        Param("i0", 4.461e-5, "A", "formed-device current prefactor (v0/i0 = low-field resistance)", (0.0, 1.0)),
        Param("v0", 1.291, "V", "formed-device voltage scale of the sinh", (1e-3, 10.0)),
        # breakdown kinetics (thermochemical E-model)
        Param("ea", 2.8, "eV", "oxygen-vacancy formation energy in HfOx", (0.5, 10.0)),
        Param("p_dip", value(DEVICE, "p_dip"), "m",
              "effective dipole moment (e m): barrier lowering in eV per V/m (fitted)", (0.0, 1e-7)),
        Param("e_min", 0.45, "eV", "barrier left once the field has removed the formation barrier", (0.0, 5.0)),
        Param("a0", 0.25e-9, "m", "filament growth per generation event (one hop)", (1e-11, 1e-8)),
        Param("nu", 1e13, "1/s", "attempt frequency", (1.0, 1e16)),
    )
    states = (State("f", 0.0, (0.0, 1.0), "", "formed fraction of the HfOx thickness (0 = pristine)"),)
    check = Check(
        dc={"te": (-2.0, 2.0)},
        tran={"te": Pwl(((0.0, 0.0), (1e-3, 3.6), (1.2e-3, 3.6), (1.4e-3, 0.0), (1.5e-3, 0.0)))},
        tstop=1.5e-3,
    )

    def equations(self, s):
        v = s.V("te", "be")
        kt = K_EV * s.T  # eV
        gap = s.t_ox * (1 - sp.Min(sp.Max(s.f, 0), 1))  # a time step may carry f past a bound
        current = s.i0 / 2 * (sp.exp(v / s.v0 - gap / s.g0) - sp.exp(-v / s.v0 - gap / s.g0))
        field = sp.Max(v, 0) / (gap + s.a0)
        barrier = sp.Max(s.ea - s.p_dip * field, s.e_min)
        return Equations(currents={("te", "be"): current},
                         rates={"f": s.a0 / s.t_ox * s.nu * sp.exp(-barrier / kt)})
