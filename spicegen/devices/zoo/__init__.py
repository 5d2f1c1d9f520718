"""The model zoo: ports of widely used public compact models, one module per model.

Each port cites its paper and the public Verilog-A it was compared with; ``docs/zoo.md`` lists what was
compared and the measured difference, ``docs/porting.md`` how a Verilog-A model is ported.
"""

from pkgutil import iter_modules

#: Registered names of the zoo's devices: a zoo module is named after the device it registers
#: (``tests/zoo`` checks this against the registry).
DEVICES = tuple(sorted(module.name for module in iter_modules(__path__)))
