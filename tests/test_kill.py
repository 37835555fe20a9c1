"""Real interrupts: SIGKILL a resumable command at seeded random moments, rerun it, and compare with an
uninterrupted run (issue 16). Slow: each command runs three or more times as a subprocess (`reproduce all
--quick` about 10 minutes on 2 cores). Run with `-s` to see the kill times."""

import json
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from sdce.result_log import read_log

SMALL = "n_producers = 48\nn_trainers = 3\ngenerations = 3\nprobe_size = 64\n"
CLI = [sys.executable, "-c", "from sdce.cli import main; main()"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _log(name):
    return lambda out: _sorted(read_log(out / name, ()))


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def _regimes(out):
    return {folder.name: _summary(folder) for folder in sorted(out.iterdir()) if folder.is_dir()}


def _report(out):
    """Every table the report is made of and every section's text (report.md itself also states wall times)."""
    tables = {path.name: _sorted(pd.read_csv(path)).to_csv(index=False) for path in sorted(out.glob("*.csv"))}
    return tables, {path.name: path.read_text() for path in sorted((out / "sections").glob("*.md"))}


COMMANDS = {
    "retrain": (["retrain", "--size", "tiny", "--generations", "4", "--rho", "0.2,0.8", "--seeds", "2"],
                _log("panel.csv")),
    "compare": (["compare", "--config", "{config}", "--producers", "16,32", "--seeds", "3", "--rules", "mle"],
                _summary),
    "policy sweep": (["policy", "sweep", "--policy", "subsidy", "--levels", "0,0.05,0.1", "--seeds", "2",
                      "--config", "{config}"], _log("sweep.csv")),
    "reproduce table3": (["reproduce", "table3", "--config", "{config}", "--seeds", "3", "--workers", "1"],
                         _log("runs.csv")),
    "regimes": (["regimes", "--config", "{config}"], _regimes),
    "reproduce all": (["reproduce", "all", "--quick", "--workers", "1"], _report),
}


def _invoke(args, out, kill_after=None):
    """Run the command; with `kill_after` seconds, SIGKILL it then (if it is still running). Its exit code."""
    process = subprocess.Popen([*CLI, *args, "--out", str(out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    if kill_after is None:
        _, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr
        return process.returncode
    try:
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return process.returncode


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_killed_runs_resume_to_the_uninterrupted_result(name, tmp_path):
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    args, result = COMMANDS[name]
    args = [a.replace("{config}", str(config)) for a in args]
    start = time.perf_counter()
    _invoke(args, tmp_path / "whole")
    whole = time.perf_counter() - start
    rng = random.Random(f"{name}-16")  # seeded kill points, bounded by the uninterrupted run's wall time
    killed = []
    for _ in range(3):  # early enough that a try resuming the last one's work is still killed, not finished
        moment = rng.uniform(0.15, 0.6) * whole
        code = _invoke(args, tmp_path / "killed", kill_after=moment)
        killed.append((round(moment, 1), code))
    assert sum(code == -signal.SIGKILL for _, code in killed) >= 2, killed
    _invoke(args, tmp_path / "killed")  # the resume, to the end
    expected, found = result(tmp_path / "whole"), result(tmp_path / "killed")
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(found, expected, check_exact=True)
    else:
        assert found == expected
    print(f"{name}: uninterrupted {whole:.0f} s; killed at (s, exit) {killed}; resumed result identical")
