"""sinh memristor in PySpice 1.5: the SPICE twin and the compiled Verilog-A side by side.

Run in a folder holding sinh_memristor.osdi (spicegen compile sinh_memristor):
    python pyspice_sinh_memristor.py
"""
import numpy as np
from PySpice.Spice.Netlist import Circuit

from spicegen.interop.pyspice import ngspice_shared, place_osdi, place_twin

ngspice = ngspice_shared()  # PySpice's shared ngspice, set up for ngspice 46

circuit = Circuit("sinh memristor")
circuit.SinusoidalVoltageSource("a", "a", circuit.gnd, amplitude=1.2, frequency=1e3)
place_twin(circuit, "sinh_memristor", "m1", ["a", circuit.gnd], w0=0.5)
place_osdi(circuit, "sinh_memristor", "m2", ["a", circuit.gnd], osdi="sinh_memristor.osdi", ngspice=ngspice, w0=0.5)

simulator = circuit.simulator(simulator="ngspice-shared", ngspice_shared=ngspice)
analysis = simulator.transient(step_time=1e-6, end_time=2e-3)

time = np.array(analysis.time)
w_twin = np.array(analysis.nodes["xm1.w"])   # state of the twin
w_osdi = np.array(analysis.nodes["nm2#w"])   # state of the OSDI instance
i_source = np.array(analysis.branches["va"])  # current into the source (both devices)
print(f"{len(time)} points, final state twin {w_twin[-1]:.6f}, OSDI {w_osdi[-1]:.6f}")
np.savez("pyspice.npz", time=time, w_twin=w_twin, w_osdi=w_osdi, i_source=i_source)
