"""Stateful myOGO API simulator: ``MyogoSim().app`` in-process, ``serve()`` on a port.

See docs/simulator.md for the routes, the control API and the assumptions it makes where
the real API is undocumented.
"""

from syncd.testing.myogo_sim.clock import SimClock
from syncd.testing.myogo_sim.errors import SimulatedDrop
from syncd.testing.myogo_sim.serve import serve
from syncd.testing.myogo_sim.sim import MyogoSim
from syncd.testing.myogo_sim.webhooks import SIGNATURE_HEADER, sign_webhook

__all__ = ["SIGNATURE_HEADER", "MyogoSim", "SimClock", "SimulatedDrop", "serve", "sign_webhook"]
