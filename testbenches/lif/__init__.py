"""The LDO + current attenuator + DPI LIF neuron chain."""
