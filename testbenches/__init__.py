"""Circuits and studies built from spicegen devices, by device family: ``core``, ``mdwmtj``, ``reram``, ``lif``.

Each family package registers its testbenches and studies when imported; spicegen finds them
through the entry points of this distribution (:mod:`spicegen.plugins`), as it finds a user's.
"""
from spicegen.testbench import Testbench, get_testbench, register_testbench, testbench_names

__all__ = ["Testbench", "get_testbench", "register_testbench", "testbench_names"]
