"""``serve()``: run the simulator on a port (what ``ogo-syncd sim`` calls)."""

from __future__ import annotations

from typing import Any

import uvicorn

from syncd.testing.myogo_sim.sim import MyogoSim


def banner(sim: MyogoSim, base_url: str) -> str:
    """What to print on start-up: where it listens and how to log in."""
    issuer = sim.tokens
    lines = [
        f"myOGO simulator listening on {base_url}",
        f"  token URL : {base_url}/OAuth/Token",
        f"  API URL   : {base_url}/api/v1",
        f"  control   : {base_url}/_sim  (see docs/simulator.md)",
        f"  client    : client_id={issuer.client_id} client_secret={issuer.client_secret}",
    ]
    lines += [f"  merchant  : merchant_id={merchant} secret_token={secret}"
              for merchant, secret in issuer.merchants.items()]
    lines += [f"  api key   : X-OgoKey: {key}  (merchant {merchant})"
              for key, merchant in issuer.api_keys.items()]
    return "\n".join(lines)


def serve(host: str = "127.0.0.1", port: int = 8765, *, log_level: str = "warning",
          **sim_kwargs: Any) -> None:
    """Run a fresh ``MyogoSim(**sim_kwargs)`` on ``host:port`` until interrupted (blocking).

    Prints the base URL and the demo credentials first. These are test credentials for a
    local simulator, so printing them is intended.
    """
    sim = MyogoSim(**sim_kwargs)
    print(banner(sim, f"http://{host}:{port}"), flush=True)
    try:
        uvicorn.run(sim.app, host=host, port=port, http="h11", lifespan="off",
                    log_level=log_level, access_log=False)
    finally:
        sim.close()
