"""Circuits and studies built from spicegen devices, each addressable by name."""
from .base import Testbench, get_testbench, register_testbench, testbench_names

__all__ = ["Testbench", "get_testbench", "register_testbench", "testbench_names"]
