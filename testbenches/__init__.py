"""Circuits and studies built from spicegen devices, each addressable by name."""
from spicegen.testbench import Testbench, register_testbench

from testbenches.core.base import get_testbench, testbench_names

__all__ = ["Testbench", "get_testbench", "register_testbench", "testbench_names"]
