"""`ogo-syncd demo --cycles 3`: the README's first command, as a user runs it."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from syncd.demo import EXIT_INTERRUPTED
from tests.daemon_proc import EXE, run_cli, wait_for


def test_demo_runs_three_cycles_and_every_flow_moves_data() -> None:
    result = run_cli("demo", "--cycles", "3", timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout[result.stdout.index("ogo-syncd demo summary"):]
    for flow in ("products", "orders", "stock", "tracking"):
        [row] = [line for line in summary.splitlines() if f" {flow} " in line]
        assert row.rstrip(" │").endswith("yes"), row
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_stopped_with_ctrl_c_ends_with_a_summary(tmp_path: Path) -> None:
    """`ogo-syncd demo` runs until Ctrl-C (the README's first command): the summary says
    it was interrupted instead of calling flows still on their way failed."""
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        proc = subprocess.Popen([*EXE, "demo", "--interval", "1"], stdout=sink,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: "cycle 3" in out.read_text(), 120, "three demo cycles")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == EXIT_INTERRUPTED, out.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text()
    assert "demo summary (interrupted" in text and "Traceback" not in text
    summary = text[text.index("demo summary (interrupted"):]
    assert "│ products │" in summary and " no " not in summary
