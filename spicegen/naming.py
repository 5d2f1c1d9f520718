"""Names, values and text that are safe in every target language.

A device, port, parameter or state name ends up in Verilog-A source, an ngspice
netlist (where the control language also lives) and Python code. One check here
guards all three, so no target ever receives text it could misread. Free text
(docstrings, descriptions, units) reaches generated code only through the escaping
functions below, one per target: :func:`python_docstring`, :func:`verilog_string`
and :func:`comment_text`.
"""
from __future__ import annotations

import difflib
import keyword
import math
import re
from typing import Iterable

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


#: Names the generated numpy module reads inside its functions (``numpy``, ``env``), binds at module
#: level or calls as builtins; a parameter or node of that name would shadow them. ``np`` and
#: ``math`` are refused too, so no reader mistakes a parameter for a module.
PYTHON_RESERVED = frozenset(
    """
    numpy np math env inf nan NAME PORTS INTERNAL STATES SCALES PARAMS BOUNDS evaluate
    ArithmeticError KeyError dict float len max range set sorted zip
    """.split()
)


#: ngspice ``.model`` types, built in and XSPICE code models (the latter as ngspice 46 ``devhelp`` lists
#: them): a device so named would make its OSDI ``.model`` card select that model, not the compiled module.
NGSPICE_MODEL_TYPES = frozenset(
    """
    r c l sw csw urc ltra d npn pnp njf pjf nmos pmos nmf pmf nhfet phfet vdmos txl cpl
    spice2poly climit divide d_dt gain hyst ilimit int limit mult multi_input_pwl oneshot pwl sine slew square
    summer xfer s_xfer triangle filesource delay pwlts astate adc_bridge dac_bridge bidi_bridge d_and d_buffer
    d_dff d_dlatch d_fdiv d_genlut d_inverter d_jkff d_lut d_nand d_nor d_open_c d_open_e d_or d_osc d_process
    d_pulldown d_pullup d_pwm d_ram d_source d_srff d_srlatch d_state d_tff d_tristate d_xnor d_xor d_cosim
    aswitch capacitoric cmeter core inductoric lcouple lmeter potentiometer zener memristor sidiode pswitch
    seegen d_to_real real_delay real_gain real_to_v table2d table3d mlin tline cpline cpmlin msopen
    """.split()
)

#: Names ``disciplines.vams`` declares at global scope (natures, disciplines, access functions); a
#: Verilog-A module of that name fails to compile ("already declared in this scope"). Case-sensitive.
VERILOGA_GLOBAL_NAMES = frozenset(
    """
    Current Charge Voltage Flux Magneto_Motive_Force Temperature Power Position Velocity Acceleration Impulse
    Force Angle Angular_Velocity Angular_Acceleration Angular_Force logic ddiscrete electrical voltage current
    magnetic thermal kinematic kinematic_v rotational rotational_omega
    I Q V Phi MMF Temp Pwr Pos Vel Acc Imp F Theta Omega Alpha Tau
    """.split()
)


def check_device_name(name: str) -> str:
    """Return ``name`` if it can name a Verilog-A module, an ngspice subcircuit and an OSDI model, else raise.

    On top of :func:`check_name`, a device name must not be an ngspice model type (``C``,
    ``NMOS``, a code model such as ``gain``) nor a global name of ``disciplines.vams`` (``Q``).
    """
    check_name(name, "device")
    if name.lower() in NGSPICE_MODEL_TYPES:
        raise ValueError(f"device name {name!r} is an ngspice model type, so its OSDI .model card would select "
                         f"that model; rename it (e.g. {name}_dev).")
    if name in VERILOGA_GLOBAL_NAMES:
        raise ValueError(f"device name {name!r} is declared by Verilog-A's disciplines.vams (a nature, discipline "
                         f"or access function), so the module would not compile; rename it (e.g. {name}_dev).")
    return name


def is_identifier(name: object) -> bool:
    """Whether ``name`` is a plain ASCII identifier (a letter, then letters, digits or '_')."""
    return isinstance(name, str) and bool(_IDENTIFIER.match(name))


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
    if not is_identifier(name):
        raise ValueError(
            f"{what} name {_shortened(name)} is not a valid identifier: use a letter followed by "
            "letters, digits or '_' (it must work in Verilog-A, ngspice and Python)."
        )
    lowered = name.lower()  # ngspice is case-insensitive
    for language, words in (("Verilog-A", VERILOGA_RESERVED), ("ngspice", NGSPICE_RESERVED)):
        if lowered in words:
            raise ValueError(f"{what} name {name!r} is a reserved word in {language}; rename it (e.g. {name}_).")
    if keyword.iskeyword(name):
        raise ValueError(f"{what} name {name!r} is a Python keyword; rename it (e.g. {name}_).")
    if name in PYTHON_RESERVED:
        raise ValueError(f"{what} name {name!r} is a reserved word in Python (the generated numpy module uses it); "
                         f"rename it (e.g. {name}_).")
    return name


def _shortened(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters so a huge name is not echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming up to three of ``known`` close to a mistyped ``name``, or ``""``.

    >>> did_you_mean("vthrr", ["vthr", "vdd"])
    " (did you mean 'vthr'?)"
    """
    close = difflib.get_close_matches(str(name), list(known), n=3)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


def listing(names: Iterable[str], limit: int = 24) -> str:
    """``names`` as a list for an error message, the first ``limit`` of them and how many more.

    >>> listing(["a", "b", "c"], limit=2)
    "['a', 'b'] and 1 more"
    """
    names = list(names)
    if not names:
        return "none"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{names[:limit]}{more}"


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


_DECIMAL = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\Z")


def ngspice_reads(text: str) -> float:
    """The double ngspice 46 reads for the decimal number ``text`` (as :func:`format_number` writes it).

    ngspice's number parser (``INPevaluate``) accumulates the digits into a double mantissa and
    multiplies by ``pow(10, exponent)``, which is not correctly rounded: ``0.3`` reads as
    ``0.30000000000000004`` and ``3e-09`` as ``3.0000000000000004e-09`` (up to 2 ulps off over 405
    measured values, each read back through an OSDI model: this function agreed on all of them).
    openvaf-r and VACASK read decimals correctly rounded, so a value written exactly at a
    Verilog-A range bound can land outside the range in ngspice only.

    Examples
    --------
    >>> ngspice_reads("0.3"), ngspice_reads("1e-09")
    (0.30000000000000004, 1e-09)
    """
    match = _DECIMAL.match(text)
    if match is None or not (match.group(2) or match.group(3)):
        raise ValueError(f"{text!r} is not a decimal number as format_number writes it.")
    sign, whole, fraction, exponent = match.group(1), match.group(2), match.group(3) or "", match.group(4)
    mantissa = 0.0
    for digit in whole + fraction:
        mantissa = 10 * mantissa + int(digit)
    value = mantissa * math.pow(10.0, int(exponent or 0) - len(fraction))
    return -value if sign == "-" else value


def ngspice_substitutes(value: float) -> float:
    """The double ngspice 46 reads for ``value`` substituted into a card through a ``{parameter}``.

    Its numparam step writes the value as ``%.15e`` and the card parser reads that text back
    (:func:`ngspice_reads`), up to an ulp off either way: ``{0.1}`` reads as 0.09999999999999999
    and ``{3.0}`` as 3.0000000000000004 (measured: this function agreed on 107 of 107 values).

    Examples
    --------
    >>> ngspice_substitutes(0.1), ngspice_substitutes(1.0)
    (0.09999999999999999, 1.0)
    """
    return ngspice_reads(f"{check_value(value, 'value'):.15e}")


def _printable_ascii(char: str) -> bool:
    return " " <= char <= "~"


def _python_escape(char: str) -> str:
    return ascii(char)[1:-1]  # e.g. \n, \x00, \xe9, \u2028, \U0001f600, \ud800


def python_docstring(*lines: str) -> str:
    r'''A Python triple-quoted string literal whose value is ``lines`` joined by new lines.

    Every backslash and double quote is escaped and every character outside printable
    ASCII written as a Python escape, so no text can end the literal early, form an
    invalid escape (``\U``) or put a byte into the source that its encoding cannot hold.

    Examples
    --------
    >>> print(python_docstring('say """hi""" in C:\\Users', "second line"))
    """say \"\"\"hi\"\"\" in C:\\Users
    second line"""
    '''

    def escape(char: str) -> str:
        if char in '\\"':
            return "\\" + char
        return char if _printable_ascii(char) else _python_escape(char)

    return '"""' + "\n".join("".join(escape(c) for c in line) for line in lines) + '"""'


def verilog_string(text: str) -> str:
    r"""A Verilog-A string literal (with its quotes) whose value is ``text``.

    Backslash, quote, new line and tab use their Verilog escapes; every other character
    outside printable ASCII is written as octal escapes of its UTF-8 bytes.

    Examples
    --------
    >>> print(verilog_string('ends in \\'))
    "ends in \\"
    >>> print(verilog_string('5 Ω "typ"'))
    "5 \316\251 \"typ\""
    """
    named = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}

    def escape(char: str) -> str:
        if char in named:
            return named[char]
        if _printable_ascii(char):
            return char
        return "".join(f"\\{byte:03o}" for byte in char.encode("utf-8", "surrogatepass"))

    return '"' + "".join(escape(c) for c in text) + '"'


def comment_text(text: str) -> str:
    r"""``text`` as the body of a one-line comment (Verilog-A ``//``, SPICE ``*``).

    Characters outside printable ASCII (line breaks included) are written as Python-style
    escapes, so the comment can never end early and let the rest be read as code.

    Examples
    --------
    >>> print(comment_text("two\nlines, 5 Ω"))
    two\nlines, 5 \u03a9
    """
    return "".join(c if _printable_ascii(c) else _python_escape(c) for c in text)
