"""lmfit forms, statistical extraction, surrogates and their exports (numpy, JSON, PyTorch, ONNX).

Import the submodules you need: ``fitting.surrogate`` (numpy only), ``fitting.forms`` and
``fitting.extract`` (lmfit, sympy), ``fitting.export`` and ``fitting.mdwmtj.layer`` (optional torch /
onnx extras). This package file imports nothing, so loading a surrogate stays light.
See docs/fitting.md.
"""
