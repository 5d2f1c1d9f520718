"""Verilog-A rendering of spicegen devices: printer, module writer, OpenVAF compilation."""
from .compile import CompileError, compile_model, compile_source
from .module import format_module
from .printer import VerilogAPrinter, va_expr

compile = compile_model  # noqa: A001 - the name users look for: veriloga.compile(device)

__all__ = ["CompileError", "VerilogAPrinter", "compile", "compile_model", "compile_source", "format_module", "va_expr"]
