"""Behavioural twin of the LIF neuron of Garg et al. and of its LDO + current attenuator front end.

N. Garg et al., "Versatile CMOS Analog LIF Neuron for Memristor-Integrated Neuromorphic Circuits":
a differential-pair integrator (DPI) charges the membrane capacitor C_mem, a bi-directional leak
pulls the membrane toward V_rest, a comparator against V_thr sets a spike latch, the latch holds the
membrane at 0 V (reset) and drives the output at V_dd until a timer of length T_pw (set by V_pw)
clears it, so T_pw is both the pulse width and the refractory time (Garg et al. §II.C, Fig. 2C).

``lif_neuron`` (ports ``vdd nin thr out``)::

    vdd --[ r_in ]-- nin             the input current I_in = V(vdd, nin)/r_in flows from the supply into nin,
                                     where an external sink (the attenuator output, a current source) draws it
    thr                              comparator threshold V_thr (no current)
    out --[ r_out ]-- V(vdd)*a(s)    spike output, amplitude V_dd while the latch is set

States: input-stage activation ``a_in`` (0 … 1), DPI output current ``i_dpi`` (A), membrane ``v_mem``
(V), spike latch ``s`` (0 = idle, 1 = spiking) and refractory timer ``r`` (0 … 1 during a spike)::

    da/dt       = (0.1 + (I_in/I_tau - 1)+)/t_on*tanh((step(10*I_in/I_tau) - a)/0.1)    input stage activation:
                                                      a constant slew, as the chain's C_syn is charged by the
                                                      input's excess over I_tau (a pulse loses the slew time)
    t_dpi di/dt = I_gain*g((I_in/I_tau)^p - 1)*a^n_on - i   DPI output i: first order, turning on late in the
                                                      slew and at once, as the chain's output device conducts as
                                                      exp(kappa V_syn/U_T); smooth (no dead band), so a
                                                      simulator's step control sees the onset coming
    C_mem dv/dt = (i + I_by)*sat(v) - C_mem*leak(v) - a(s)*C_mem*v/t_reset
    I_by        = bypass*I_in*((I_in + I_FLOOR)/I_REF)^(q_by - 1)   direct share of the input (mirror M_by):
                                                      no threshold, no dead time; bypass = share at I_REF
    g(x)        = max(soft+(x) - soft+(-1), 0)    the DPI's steady state (x)+ (p = 1: I_gain*(I_in/I_tau - 1)+),
    soft+(x)    = k*ln(1 + exp(x/k))              smoothed over k (k_soft), exactly 0 without input
    sat(v)      = 1/(1 + exp((v - v_gain)/v_sat)) both outputs into C_mem fade as the membrane rises
    leak(v)     = min(max(v - v_rest, 0), 2 mV)/t_down + min(v - v_rest, 0)/t_up     toward V_rest:
                                                      a constant current above V_rest + 2 mV, linear below
    t_set ds/dt = 2*s*(1 - s)*(2s - 1) + f(v)*(1 - s) - c(r)*s    bistable latch: set by the comparator
                                                                  f, cleared when the timer has run out
    dr/dt       = s/t_pw - b(s)*r/t_set                            counts T_pw while set, recharges after
    f(v) = step((v - V_thr)/v_cmp),  c(r) = step((r - 1)/R_CLEAR)
    a(s) = step((s - 0.7)/0.25),     b(s) = step((0.5 - s)/0.4)

The direct share I_by is the current of the chain's bypass mirror M_by, which copies the input diode
straight onto the membrane: it is what charges the membrane below the DPI's threshold I_tau. Its law is
the one measured on the transistor chain by operating points (a power law of I_in, share falling from
0.64 to 0.28 of I_in over 0.19-400 nA with the membrane at 0 V; I_REF = 100 nA, I_FLOOR = 1 pA keeps the
slope at I_in = 0 finite). I_in < 0 (a source into nin) gives no share, as the diode conducts one way.

``step`` is the C1 smoothstep 3u^2 - 2u^3 of u clipped to [0, 1]: exactly 0 and 1 outside its band,
so at rest (no input, v = v_rest) every rate is exactly zero and the DC operating point is the
resting state in all three renderings. Above V_rest the leak is the chain's switched constant current
(the membrane slews down at 2 mV/t_down, linear only within 2 mV of V_rest); below V_rest it stays
linear (time constant t_up; 90 % of the way to V_rest in ln(10)*t_up): a simulator's Newton iteration
starts from 0 V on every node, where a saturating leak would have no slope and send the membrane node
astray; the linear up-leak brings it to V_rest in one step. The latch is bistable (stable at s = 0 and s = 1, unstable
at 1/2): once the comparator has pushed it past 1/2 it completes the spike by itself while the reset
pulls the membrane below V_thr, as the transistor latch does. The reset and the output act only
above s = 0.7 and the timer recharges only below s = 1/2, so neither a spike nor its end is ever
left half-done (a latch lingering near its unstable point would make the spike time ill-conditioned).

``ldo_attenuator`` (ports ``syn iout``): the LDO clamps the synapse node at V_ref and passes the
synaptic current I_syn (current limit i_max) to the attenuator, whose output sinks I_syn/K from
``iout`` while V(iout) stays above its compliance::

    I(syn)  = i_max*tanh(g_ldo*v_on*soft+((V(syn) - v_ref)/v_on)/i_max)   (LDO pass device: sinks only)
    I(iout) = I(syn)/k * tanh(max(V(iout), 0)/v_comp)^2                   (cascode mirror, x 1/K)
    Q(syn)  = c_syn*V(syn)      (the node's capacitance: without it the steep clamp makes syn an algebraic
                                 node that a fast input edge can leave without a solution in time)

The neuron's calibrated values (``c_mem`` … ``t_pw``) are fitted to the transistor-level sky130 chain by
the study ``lif-twin`` and read from ``spicegen/devices/calibration/lif_neuron.json``.
"""
import numpy as np
import sympy as sp

from spicegen.calibration import value
from spicegen.device import Check, Device, Equations, Pwl, State, register
from spicegen.params import Param

DEVICE = "lif_neuron"
#: Width of the timer band over which the latch is cleared (r from 1 to 1 + R_CLEAR).
R_CLEAR = 0.05
#: Latch band over which reset and output switch on: past the latch's unstable point 1/2, so a latch
#: that has begun to reset the membrane is committed to the spike.
S_SPIKE = (0.7, 0.95)
#: Latch band over which the timer recharges (s falling from 1/2 to 0.1): once the latch is
#: committed to clearing, so the clear drive does not vanish before the latch has flipped.
S_RECHARGE = (0.5, 0.1)
#: Distance from its target (in activation) within which the input stage's constant slew becomes an exponential
#: approach: da/dt = speed*tanh((target - a)/A_SOFT). Near its target the activation relaxes with a time constant
#: of A_SOFT/speed, t_on at the input's end: shorter would be stiff for a simulator's time steps of tens of
#: microseconds between input pulses.
A_SOFT = 0.1
#: Input current, in units of I_tau, at which the input stage is fully on (below the gain law's knee,
#: so the activation gates pulses and never the DC gain law).
A_FULL = 0.1
#: Turn-on speed of the input stage with no input in excess of I_tau, in units of 1/t_on (the stage's
#: turn-off, and its turn-on below the knee, take t_on/A_FLOOR).
A_FLOOR = 0.1
#: Width (V) of the downward leak's linear band above V_rest: beyond it the leak is a constant current
#: C_mem*V_BAND/t_down. The chain's comparator-switched leak is a constant current to within 1 mV of V_rest
#: (1.35-1.37 mV/ms from 0.69 V down to 0.601 V); the band only keeps the leak's derivative finite.
V_BAND = 0.002
#: Strength of the latch's bistable feedback (comparator drive needed to flip it: about 1/4).
LATCH_GAIN = 2.0
#: Default input resistance (Ohm): 0.1 V across it at 1 uA.
R_IN = 1e5
#: Input current at which the direct share equals ``bypass`` (A).
I_REF = 100e-9
#: Current added to I_in in the direct share's power law (A): keeps its slope finite at I_in = 0 (a
#: power below 1 of I_in alone has an infinite derivative there, which Newton's method cannot use).
I_FLOOR = 1e-12


def step(u: sp.Expr) -> sp.Expr:
    """C1 smoothstep: 0 for u <= 0, 3u^2 - 2u^3 between, 1 for u >= 1."""
    clipped = sp.Min(sp.Max(u, 0), 1)
    return clipped * clipped * (3 - 2 * clipped)


def soft_plus(x: sp.Expr, k: sp.Expr) -> sp.Expr:
    """k*ln(1 + exp(x/k)), written so no exponent is positive (exact for every x, no overflow)."""
    u = x / k
    return k * (sp.Max(u, 0) + sp.log(1 + sp.exp(-sp.Abs(u))))


def turn_on_speed(i_in, i_tau, t_on):
    """Rate (1/s) at which the input stage's activation follows its target: (A_FLOOR + (I_in/I_tau - 1)+)/t_on.

    The chain's DPI needs its capacitor C_syn slewed by the input's excess over I_tau before its output follows
    (a delay C_syn*dV/(I_in - I_tau)); A_FLOOR lets the stage turn off, and on below the knee, in t_on/A_FLOOR.
    Works on sympy expressions and on numbers / numpy arrays alike.
    """
    excess = i_in / i_tau - 1
    if isinstance(excess, sp.Expr):
        return (A_FLOOR + sp.Max(excess, 0)) / t_on
    return (A_FLOOR + np.maximum(excess, 0)) / t_on


def activation_target(i_in, i_tau):
    """Activation the input stage slews toward under I_in: smoothstep of I_in/(A_FULL*I_tau), 1 above A_FULL*I_tau.

    Works on sympy expressions and on numbers / numpy arrays alike.
    """
    if isinstance(i_in, sp.Expr) or isinstance(i_tau, sp.Expr):
        return step(i_in / (A_FULL * i_tau))
    u = np.clip(np.asarray(i_in) / (A_FULL * np.asarray(i_tau)), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _calibrated(name: str) -> float:
    return value(DEVICE, name)


def _neuron_check() -> Check:
    """DC: input current -1 … +5 I_gain-equivalents above I_tau, any threshold and output level.

    Transient (1.8 T_pw): the input current rises slowly through the DPI's knee to 2 I_tau and stays;
    the threshold falls from 1.2 V to 0.3 V, below the membrane, so the comparator fires once: latch
    set, reset, T_pw of spike, clear, release. The spike is triggered by the threshold rather than by
    a charged membrane because the time of a charged-membrane spike amplifies any integration error of
    the charge (an integrator that steps across a kink of the input current, as VACASK does, then
    misses the spike by nanoseconds, a full-scale error on the output edge).
    """
    knee, span, t_pw, vdd = 2 * R_IN * _calibrated("i_tau"), 5 * R_IN * _calibrated("i_tau"), _calibrated("t_pw"), 3.3
    tstop = 1.8 * t_pw
    return Check(
        dc={"vdd": (3.0, 3.6), "nin": (vdd - span, vdd + span / 5), "thr": (0.3, 2.0), "out": (0.0, 3.3)},
        tran={"vdd": Pwl(((0.0, vdd), (tstop, vdd))),
              "nin": Pwl(((0.0, vdd), (0.02 * t_pw, vdd), (0.5 * t_pw, vdd - knee), (tstop, vdd - knee))),
              "thr": Pwl(((0.0, 1.2), (0.3 * t_pw, 1.2), (0.5 * t_pw, 0.3), (tstop, 0.3)))},
        tstop=tstop,
    )


@register
class LifNeuron(Device):
    """LIF neuron (Garg et al.): DPI input, leak toward V_rest, comparator, latch, reset to 0 V for T_pw."""

    ports = ("vdd", "nin", "thr", "out")
    params = (
        Param("c_mem", _calibrated("c_mem"), "F", "membrane capacitance C_mem (C1)", (1e-15, 1e-9)),
        Param("i_gain", _calibrated("i_gain"), "A", "DPI gain current I_gain", (1e-15, 1e-3)),
        Param("i_tau", _calibrated("i_tau"), "A", "DPI threshold current I_tau: no output below it", (1e-15, 1e-3)),
        Param("p_gain", _calibrated("p_gain"), "", "exponent of the input in the gain law (1: the DPI's)", (0.3, 3.0)),
        Param("k_soft", _calibrated("k_soft"), "", "smoothing of the gain law's knee at I_tau (relative)", (1e-3, 1.0)),
        Param("t_on", _calibrated("t_on"), "s",
              "turn-on time of the input stage at I_in = 2 I_tau (scales as I_tau/(I_in - I_tau))", (1e-10, 1e-3)),
        Param("n_on", _calibrated("n_on"), "",
              "exponent of the DPI output's turn-on in the input stage's activation (output ~ a_in^n_on)", (1.0, 50.0)),
        Param("t_dpi", _calibrated("t_dpi"), "s", "time constant of the DPI output (input pulses arrive delayed)",
              (1e-10, 1e-2)),
        Param("bypass", _calibrated("bypass"), "",
              "direct share of the input current reaching C_mem (mirror M_by) at I_in = 100 nA", (0.0, 10.0)),
        Param("q_bypass", _calibrated("q_bypass"), "", "exponent of I_in in the direct share (1: a fixed fraction)",
              (0.3, 2.0)),
        Param("v_gain", _calibrated("v_gain"), "V", "membrane level where the outputs into C_mem halve", (0.0, 5.0)),
        Param("v_sat", _calibrated("v_sat"), "V", "membrane volts per e-fold of the output fade", (1e-3, 2.0)),
        Param("t_down", _calibrated("t_down"), "s",
              "time constant of the downward leak within 2 mV above V_rest (V_taun); beyond, it slews at 2 mV/t_down",
              (1e-9, 1e3)),
        Param("t_up", _calibrated("t_up"), "s", "time constant of the upward leak below V_rest (V_taup)", (1e-9, 1e3)),
        Param("v_rest", 0.6, "V", "resting potential V_rest", (0.0, 5.0)),
        Param("t_pw", _calibrated("t_pw"), "s", "pulse width = refractory time T_pw (V_pw)", (1e-8, 10.0)),
        Param("t_set", 50e-9, "s", "latch set/clear time (comparator and latch delay)", (1e-11, 1e-5)),
        Param("t_reset", 20e-9, "s", "time constant of the reset switch holding the membrane at 0 V", (1e-11, 1e-5)),
        Param("v_cmp", 0.01, "V", "comparator overdrive for full latch drive", (1e-4, 0.5)),
        Param("r_in", R_IN, "Ohm", "input resistance between vdd and nin", (1.0, 1e9)),
        Param("r_out", 100.0, "Ohm", "output resistance of the spike buffer", (1e-3, 1e6)),
    )
    states = (
        State("a_in", 0.0, (0.0, 1.0), "", "activation of the input stage (0 off, 1 on)"),
        State("i_dpi", 0.0, unit="A", desc="DPI output current charging the membrane", scale=1e-6),
        State("v_mem", 0.6, (-0.5, 5.0), "V", "membrane voltage"),
        State("s", 0.0, (0.0, 1.0), "", "spike latch (0 idle, 1 spiking)"),
        State("r", 0.0, (0.0, 1.5), "", "refractory timer (reaches 1 after T_pw of spiking)"),
    )
    check = _neuron_check()

    def equations(self, s):
        v, latch, timer = s.v_mem, s.s, s.r
        i_in = s.V("vdd", "nin") / s.r_in
        drive = sp.Max(i_in / s.i_tau, 0) ** s.p_gain - 1
        gain = sp.Max(soft_plus(drive, s.k_soft) - soft_plus(-1, s.k_soft), 0)
        i_pos = sp.Max(i_in, 0)
        bypass = s.bypass * i_pos * ((i_pos + I_FLOOR) / I_REF) ** (s.q_bypass - 1)
        dpi = (s.i_dpi + bypass) / (1 + sp.exp((v - s.v_gain) / s.v_sat))
        leak = sp.Min(sp.Max(v - s.v_rest, 0), V_BAND) / s.t_down + sp.Min(v - s.v_rest, 0) / s.t_up
        spiking = step((latch - S_SPIKE[0]) / (S_SPIKE[1] - S_SPIKE[0]))
        recharge = step((latch - S_RECHARGE[0]) / (S_RECHARGE[1] - S_RECHARGE[0]))
        fire = step((v - s.V("thr")) / s.v_cmp)
        clear = step((timer - 1) / R_CLEAR)
        bistable = LATCH_GAIN * latch * (1 - latch) * (2 * latch - 1)
        return Equations(
            currents={("vdd", "nin"): i_in, ("out",): (s.V("out") - s.V("vdd") * spiking) / s.r_out},
            rates={"a_in": turn_on_speed(i_in, s.i_tau, s.t_on) * sp.tanh((activation_target(i_in, s.i_tau) - s.a_in)
                                                                           / A_SOFT),
                   "i_dpi": (s.i_gain * gain * sp.Max(s.a_in, 0) ** s.n_on - s.i_dpi) / s.t_dpi,
                   "v_mem": dpi / s.c_mem - leak - spiking * v / s.t_reset,
                   "s": (bistable + fire * (1 - latch) - clear * latch) / s.t_set,
                   "r": latch / s.t_pw - recharge * timer / s.t_set},
        )


@register
class LdoAttenuator(Device):
    """LDO + current attenuator (Garg et al.): synapse node clamped at V_ref, I_syn/K sunk from the neuron input."""

    ports = ("syn", "iout")
    params = (
        Param("v_ref", 1.0, "V", "LDO reference: the synapse node is clamped here (LDO range)", (0.5, 3.0)),
        Param("k", 500.0, "", "attenuation factor K", (1.0, 1e6)),
        Param("g_ldo", 1.0, "S", "clamp stiffness of the LDO loop", (1e-6, 1e3)),
        Param("v_on", 35e-6, "V", "clamp turn-on width: n U_T over the loop gain (pass device off below V_ref)",
              (1e-6, 0.1)),
        Param("i_max", 1e-3, "A", "LDO current limit", (1e-9, 1.0)),
        Param("v_comp", 0.1, "V", "compliance of the attenuator output", (1e-3, 2.0)),
        Param("c_syn", 0.1e-12, "F", "capacitance of the synapse node (pass-device drain, wiring)", (1e-16, 1e-9)),
    )
    check = Check(
        dc={"syn": (0.95, 1.02), "iout": (-0.2, 3.0)},
        tran={"syn": Pwl(((0.0, 0.9), (1e-6, 1.01), (2e-6, 1.01), (3e-6, 0.9))),
              "iout": Pwl(((0.0, 2.5), (1.5e-6, 2.5), (2.5e-6, 0.05), (3e-6, 0.05)))},
        tstop=3e-6,
    )

    def equations(self, s):
        i_lin = s.g_ldo * soft_plus(s.V("syn") - s.v_ref, s.v_on)
        i_syn = s.i_max * sp.tanh(i_lin / s.i_max)
        compliance = sp.tanh(sp.Max(s.V("iout"), 0) / s.v_comp) ** 2
        return Equations(currents={("syn",): i_syn, ("iout",): i_syn / s.k * compliance},
                         charges={("syn",): s.c_syn * s.V("syn")})
