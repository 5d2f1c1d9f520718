"""Names and values that are safe in every target language.

A device, port, parameter or state name ends up in Verilog-A source, an ngspice
netlist (where the control language also lives) and Python code. One check here
guards all three, so no target ever receives text it could misread.
"""
from __future__ import annotations

import keyword
import math
import re

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

#: Verilog-A / Verilog-AMS keywords and built-ins a model name must not shadow.
VERILOGA_RESERVED = frozenset(
    """
    abs absdelay ac_stim acos acosh analog analysis and asin asinh assign atan atan2 atanh begin
    branch buf bufif0 bufif1 case casex casez ceil cmos connectrules cos cosh cross ddt ddx deassign
    default defparam disable discipline driver_update edge else end endcase endconnectrules
    enddiscipline endfunction endmodule endnature endprimitive endspecify endtable endtask event exp
    final_step flicker_noise floor for force forever fork from function generate genvar ground
    highz0 highz1 hypot idt idtmod if ifnone inf initial initial_step inout input integer join
    laplace_nd laplace_np laplace_zd laplace_zp large last_crossing limexp ln localparam log macromodule
    max medium min module nand nature negedge nmos noise_table nor not notif0 notif1 or output
    parameter pmos posedge potential pow primitive pull0 pull1 pulldown pullup rcmos real realtime reg
    release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared sin sinh slew small specify specparam
    sqrt strong0 strong1 supply0 supply1 table tan tanh task time timer tran tranif0 tranif1 transition
    tri tri0 tri1 triand trior trireg vectored wait wand weak0 weak1 while white_noise wire wor wreal
    xnor xor zi_nd zi_np zi_zd zi_zp electrical voltage current
    """.split()
)

#: ngspice expression functions, constants and control-language words that a name must not shadow.
NGSPICE_RESERVED = frozenset(
    """
    abs acos acosh asin asinh atan atanh cos cosh exp ln log log10 sin sinh sqrt tan tanh u u2 uramp
    sgn pwr pwrs pow min max ceil floor nint int limit ddt table tablefile gauss agauss unif aunif
    temper time hertz pi e boltz echarge kelvin planck v i gnd
    control endc end ends subckt param model include lib options option func shell exit quit
    alter alterparam reset run source set unset let print write wrdata destroy
    """.split()
)


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is usable in Verilog-A, ngspice and Python, else raise.

    Parameters
    ----------
    name
        The proposed identifier.
    what
        What the name is for, used in the error message (``"parameter"``, ``"port"`` ...).

    Raises
    ------
    ValueError
        If the name is not a plain identifier, or is a reserved word of a target language.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(
            f"{what} name {name!r} is not a valid identifier: use a letter followed by "
            "letters, digits or '_' (it must work in Verilog-A, ngspice and Python)."
        )
    lowered = name.lower()  # ngspice is case-insensitive
    for language, words in (("Verilog-A", VERILOGA_RESERVED), ("ngspice", NGSPICE_RESERVED)):
        if lowered in words:
            raise ValueError(f"{what} name {name!r} is a reserved word in {language}; rename it (e.g. {name}_).")
    if keyword.iskeyword(name):
        raise ValueError(f"{what} name {name!r} is a Python keyword; rename it (e.g. {name}_).")
    return name


def check_value(value: object, what: str) -> float:
    """Return ``value`` as a finite float, else raise with the offending value.

    Numbers written into netlists go through here, so text such as ``"1\\n.control"``
    or ``"shell rm"`` can never reach a simulator.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ValueError(f"{what} must be a number, got {value!r} ({type(value).__name__}).")
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {number!r}.")
    return number


def format_number(value: float) -> str:
    """Shortest round-trip text for a float, valid in Verilog-A, ngspice and Python."""
    text = repr(float(value))
    if "e" in text or "." in text or "inf" in text or "nan" in text:
        return text
    return text + ".0"
