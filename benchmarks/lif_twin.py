"""Behavioural LIF twin vs the transistor-level chain on the same stimulus: speed-up, measured in one run.

``python benchmarks/lif_twin.py [--repeat 3]``

Stimuli (Garg et al. Figs. 4B-C and 6A): a DC synaptic current of 40 uA for 2 ms at V_thr = 1.2 V, and
40 uA input pulses of 10 us at 100 Hz for 0.3 s. Renderings timed (median of ``--repeat`` runs each):

* **chain**: the transistor-level LDO + attenuator + LIF (sky130 BSIM4) in ngspice,
  :func:`testbenches.lif.neuron.spike_train` / the pulsed source of :func:`~testbenches.lif.neuron.pulsed_rate`;
* **twin OSDI**: ``ldo_attenuator`` + ``lif_neuron`` compiled by openvaf-r, in ngspice, behind the same
  R_syn and input source (:func:`fitting.lif.twin.twin_spike_train`, :func:`~fitting.lif.twin.twin_pulsed`);
* **twin numpy ODE**: the generated numpy module of ``lif_neuron`` integrated by scipy's LSODA
  (rtol 1e-6), the input current I_syn / K;
* **twin numpy events**: the same numpy module driven event by event (the membrane's time to threshold by
  quadrature of 1/rate, :class:`fitting.lif.twin.TwinModel`), as the calibration uses it.

The twin's parameters are the device's defaults (the shipped calibration). Prints a Markdown table:
seconds per run, speed-up over the chain, spikes counted.
"""
from __future__ import annotations

import argparse
import platform
from dataclasses import asdict

import numpy as np
from scipy.integrate import solve_ivp

from fitting.lif.twin import K_NOMINAL, TwinModel, twin_pulsed, twin_spike_train
from spicegen import get_device
from spicegen.numpy_code import load_numpy_module
from testbenches.lif import neuron
from testbenches.lif.circuit import Biases
from timing import time_call

DC_UA, DC_S = 40.0, 2e-3
"""The DC stimulus: synaptic current (uA) and run length (s)."""
PULSE_WIDTH, PULSE_S = 10e-6, 0.3
"""The pulsed stimulus: width (s) and run length (s) of 40 uA pulses at 100 Hz."""


def numpy_ode_spikes(isyn: float, t_stop: float, vdd: float, vthr: float) -> np.ndarray:
    """Spike times (s) of ``lif_neuron``'s numpy module integrated by LSODA under DC ``isyn`` (A)."""
    model = get_device("lif_neuron")
    module = load_numpy_module(model)
    r_in = model.defaults["r_in"]
    volts = {"vdd": vdd, "nin": vdd - isyn / K_NOMINAL * r_in, "thr": vthr, "out": 0.0}

    names = [st.name for st in model.states]

    def rhs(_t: float, x: np.ndarray) -> list[float]:
        rates = module.evaluate(volts, dict(zip(names, x)))["rates"]
        return [float(rates[name]) for name in names]

    x0 = [model.defaults[f"{name}0"] for name in names]
    scale = [st.scale for st in model.states]
    sol = solve_ivp(rhs, (0.0, t_stop), x0, method="LSODA", rtol=1e-6, atol=[1e-9 * x for x in scale],
                    max_step=t_stop / 2000)
    latch = sol.y[names.index("s")]
    return sol.t[1:][(latch[1:] >= 0.5) & (latch[:-1] < 0.5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per rendering (median)")
    args = parser.parse_args()
    b = Biases()
    biases = asdict(b)
    params = get_device("lif_neuron").defaults
    isyn = DC_UA * 1e-6
    runs = {
        "DC 40 µA, 2 ms": {
            "chain (transistor level, ngspice)": lambda: neuron.spike_train(isyn, DC_S + 1e-6, biases=b).spikes,
            "twin OSDI (ngspice)": lambda: twin_spike_train(isyn, DC_S + 1e-6, params, biases, b.vthr),
            "twin numpy ODE (LSODA)": lambda: numpy_ode_spikes(isyn, DC_S, b.vdd, b.vthr),
            "twin numpy events": lambda: _dc_events(params, isyn, b.vthr),
        },
        "pulses 40 µA × 10 µs at 100 Hz, 0.3 s": {
            "chain (transistor level, ngspice)": lambda: _chain_pulsed(b),
            "twin OSDI (ngspice)": lambda: twin_pulsed(PULSE_WIDTH, PULSE_S, params, biases),
            "twin numpy events": lambda: TwinModel(params).pulsed_spikes(40e-6, PULSE_WIDTH, 100.0, PULSE_S, b.vthr)[0],
        },
    }
    print(f"machine: {platform.processor() or platform.machine()}, repeat {args.repeat} (median)\n")
    print("| stimulus | rendering | s per run | speed-up vs chain | spikes |")
    print("|---|---|---|---|---|")
    for stimulus, renderings in runs.items():
        chain_time = None
        for name, run in renderings.items():
            spikes = run()
            seconds = time_call(run, args.repeat)
            chain_time = chain_time or seconds
            print(f"| {stimulus} | {name} | {seconds:.4g} | {chain_time / seconds:.3g}× | {len(spikes)} |", flush=True)


def _dc_events(params: dict, isyn: float, vthr: float) -> np.ndarray:
    """Spike times of the event-driven numpy twin under DC input switched on at 1 us, first from V_rest."""
    twin = TwinModel(params)
    first = twin.time_table(isyn, params["v_rest"], vthr)[1][-1]
    period = 1.0 / twin.dc_rate(isyn, vthr)
    return 1e-6 + first + period * np.arange(int((DC_S - first) / period) + 1)


def _chain_pulsed(b: Biases) -> np.ndarray:
    """The chain's spikes under the pulses: one run of PULSE_S (no lengthening: ``spikes=0``)."""
    return neuron.pulsed_rate(amplitude=40e-6, width=PULSE_WIDTH, frequency=100.0, biases=b, t_first=PULSE_S,
                              spikes=0).spikes


if __name__ == "__main__":
    main()
