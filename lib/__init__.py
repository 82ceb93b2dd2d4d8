"""Library behind the companion book to *Using Pre-Training Can Improve Model
Robustness and Uncertainty* (Hendrycks, Lee, Mazeika, ICML 2019).

Sub-packages: ``data`` (datasets and the on-device loader), ``models``
(Wide ResNets), ``training`` (recipes, engine, run cache), ``metrics``,
``noise``, ``imbalance``, ``attacks``; plus ``presets`` (smoke/quick/paper)
and ``results`` (the tidy result store).
"""

__version__ = "0.1.0"
