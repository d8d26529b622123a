"""`ogo-syncd demo --cycles 3`: the README's first command, as a user runs it."""

from __future__ import annotations

from tests.daemon_proc import run_cli


def test_demo_runs_three_cycles_and_every_flow_moves_data() -> None:
    result = run_cli("demo", "--cycles", "3", timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout[result.stdout.index("ogo-syncd demo summary"):]
    for flow in ("products", "orders", "stock", "tracking"):
        [row] = [line for line in summary.splitlines() if f" {flow} " in line]
        assert row.rstrip(" │").endswith("yes"), row
    assert "Traceback" not in result.stdout + result.stderr
