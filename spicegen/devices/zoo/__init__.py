"""The model zoo: ports of widely used public compact models, one module per model.

Each port cites its paper and the public Verilog-A it was compared with; ``docs/zoo.md`` lists what was
compared and the measured difference, ``docs/porting.md`` how a Verilog-A model is ported.
"""

#: Registered names of the zoo's devices (``tests/zoo`` checks the list against the modules of this package).
DEVICES = ("camsari_mtj", "jart_vcm_v1b", "kinematic_dwmtj", "yakopcic")
