"""The CMO/HfOx ReRAM, its 1T1R cell and the studies built on it."""
