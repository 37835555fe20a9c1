"""`sdce reproduce all` degrades, never loses: sections on disk as they finish, failures reported and survived,
reruns resume; bad input is refused (exit 2) before any work."""

import re

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


def github_anchors(markdown: str) -> dict[str, str]:
    """Anchor -> heading text for every heading of `markdown`, as GitHub names them (lower case, punctuation other
    than '-' and '_' dropped, spaces to '-', a repeat suffixed -1, -2, ...)."""
    anchors, counts = {}, {}
    for line in markdown.splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            slug = "".join(ch for ch in text.lower() if ch.isalnum() or ch in "-_ ").replace(" ", "-")
            anchors[slug if slug not in counts else f"{slug}-{counts[slug]}"] = text
            counts[slug] = counts.get(slug, 0) + 1
    return anchors


def test_the_summary_lists_every_section_with_links_that_resolve(tmp_path):
    from calibration.report import verdict

    sections = ReportSections(tmp_path, {"config": "a"})
    assert sections.value("Tables III and V: ABM runs", lambda: 1 / 0) is None
    sections.section("Table II", lambda: f"# Table II: b-hat\n\n## Theorem 6\n\n- b agrees — {verdict(False)} (0.1)")
    sections.section("Table III", lambda: f"- Q: a > b — {verdict(True)} (means 2, 1)\n- W: a > b — "
                                          f"{verdict(False)} (means 1, 2)\ntext without a claim")
    sections.section("Table V", lambda: sections.needs("Tables III and V: ABM runs"))
    sections.section("Theorem 5", lambda: "no claim in here")
    sections.section("Theorem 6", lambda: f"- rate — {verdict(None)} (3 points)")
    report = sections.write_report("# Report\n\nheader text").read_text()
    summary = report[report.index("## Summary"):report.index("## Failed steps")]
    anchors = github_anchors(report)
    links = re.findall(r"\[([^\]]+)\]\(#([^)]+)\)", summary)
    assert [name for name, _ in links] == ["Table II", "Table III", "Table V", "Theorem 5", "Theorem 6",
                                           "Tables III and V: ABM runs"]
    for name, target in links:  # each link lands on its own section's heading (Theorem 6's after Table II's)
        assert anchors[target] == ("Failed steps" if name.endswith("ABM runs") else name), (name, target)
    assert dict(links)["Theorem 6"] == "theorem-6-1"
    lines = summary.splitlines()
    failed = next(line for line in lines if line.startswith("- [Table V]"))
    assert "**failed**" in failed and "needs Tables III and V: ABM runs, which failed" in failed
    assert any(line.startswith("- [Tables III and V: ABM runs]") and "**failed**: ZeroDivisionError" in line
               for line in lines)
    assert "- [Theorem 5](#theorem-5): no claim checked" in lines
    assert "  - Q: a > b — **holds** (means 2, 1)" in lines and "  - W: a > b — **does not hold** (means 1, 2)" in lines
    assert "1 of the 4 claims checked hold, 2 do not, 1 could not be checked; failed: Table V, Tables III and V: ABM " \
           "runs." in summary
    assert report.index("## Summary") < report.index("## Failed steps") < report.index("## Table II")
    plain = sections.summary()
    assert "Table III: Q: a > b — **holds** (means 2, 1)" in plain and not any("](#" in line for line in plain)
