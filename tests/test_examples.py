import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_compare_regimes_example_runs(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "compare_regimes.py"), "--producers", "64",
                          "--generations", "2", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "unregulated" in out.stdout and "shapley" in out.stdout
    assert (tmp_path / "comparison.png").stat().st_size > 10_000


def test_meanfield_vs_abm_example_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "meanfield_vs_abm.py"), "--producers", "64",
                          "--generations", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "mean field" in out.stdout and "ABM N=64" in out.stdout and "SDCE: rho*" in out.stdout


def test_retrain_technology_example_runs(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "retrain_technology.py"), "--regimes",
                          "unregulated", "--producers", "32", "--trainers", "2", "--generations", "2", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "generation 2: rho" in out.stdout and (tmp_path / "comparison.png").exists()
