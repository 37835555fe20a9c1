"""`sdce reproduce all` degrades, never loses: sections on disk as they finish, failures reported and survived,
reruns resume; bad input is refused (exit 2) before any work."""

import pytest
from typer.testing import CliRunner

from calibration.report import ReportSections
from sdce.cli import app


def test_a_failed_section_is_reported_and_the_next_runs(tmp_path):
    sections = ReportSections(tmp_path, {"config": "a"})
    assert sections.value("inputs", lambda: 1 / 0) is None
    sections.section("first", lambda: "# First\n\nok")
    sections.section("broken", lambda: (_ for _ in ()).throw(RuntimeError("trend 5.1 against 4")))
    sections.section("last", lambda: "fine")

    def uses_inputs():
        sections.needs("first", "inputs")
        return "never"

    sections.section("dependent", uses_inputs)
    report = sections.write_report("# Report").read_text()
    assert set(sections.failed) == {"inputs", "broken", "dependent"}
    assert "**This section failed:** RuntimeError: needs inputs, which failed" in report
    assert "**This section failed:** RuntimeError: trend 5.1 against 4" in report
    assert "- inputs: ZeroDivisionError" in report and "### First" in report and "fine" in report
    assert report.index("## first") < report.index("## broken") < report.index("## last")
    assert (tmp_path / "sections" / "first.md").read_text() == "# First\n\nok"
    assert not (tmp_path / "sections" / "broken.md").exists()


def test_a_rerun_reuses_finished_sections_and_retries_failed_ones(tmp_path):
    calls = []
    first = ReportSections(tmp_path, {"config": "a"})
    first.section("done", lambda: calls.append("done") or "kept")
    first.section("flaky", lambda: 1 / 0)
    again = ReportSections(tmp_path, {"config": "a"})
    again.section("done", lambda: calls.append("done again") or "recomputed")
    again.section("flaky", lambda: "now fine")
    assert calls == ["done"] and again.texts == {"done": "kept", "flaky": "now fine"} and not again.failed
    assert again.value("s*", lambda: 0.0125, cached=True) == 0.0125
    assert ReportSections(tmp_path, {"config": "a"}).value("s*", lambda: 1 / 0, cached=True) == 0.0125
    other = ReportSections(tmp_path, {"config": "b"})  # another configuration: nothing is reused
    other.section("done", lambda: "new")
    assert other.texts["done"] == "new"


@pytest.mark.parametrize("args, needle", [
    (["--subsidy", "-0.1"], "--subsidy"), (["--subsidy", "inf"], "--subsidy"), (["--subsidy", "lots"], "--subsidy"),
    (["--workers", "0"], "--workers"),
])
def test_reproduce_all_refuses_bad_input_before_work(args, needle, tmp_path):
    result = CliRunner().invoke(app, ["reproduce", "all", "--quick", "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()
