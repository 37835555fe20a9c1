"""`sdce reproduce all`: Tables II-V, Theorems 2, 4, 5, 6 and the calibration as the sections of one report
(`ReportSections`).

Each section is written as soon as it is done and a rerun resumes (`calibration.report`); report.md opens with the
summary of the claims each section checked (`ReportSections.summary`). The command line only parses options and
prints (`sdce/cli/reproduce.py`).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

from rich.progress import Progress

from calibration.abm_panel import table4_abm_panel
from calibration.fit_report import calibration_section
from calibration.report import ReportSections
from calibration.reproduce import table2, table4
from calibration.retrain.loop import make_retrain_config, run_retraining
from calibration.runs import SEEDS_RULE, TABLE3_REGIMES, TABLE5_POLICIES, seed_list, simulate
from calibration.tables import (
    REPORT_SIZES,
    table3,
    table5,
    table5_subsidy,
    theorem2,
    theorem4_section,
    theorem5_section,
    theorem6_section,
)
from meanfield.theorem6 import run_theorem6
from sdce.atomic import write_text_atomic
from sdce.config import SDCEConfig, config_toml, load_config
from sdce.experiments.theorem4 import run_theorem4
from sdce.experiments.theorem5 import estimator_variance, plot_theorem5
from sdce.paper.published import TABLE_IV_RHOS
from sdce.run_folder import RECORD, claim_folder

ABM_FIRST_SEED = 17  # first seed of the fixed-rho ABM panel of Tables II and IV, as `sdce reproduce table4`


def runs_progress(progress: Progress, label: str):
    """A `simulate` progress callback drawing one bar of `progress`."""
    task = progress.add_task(label, total=None)
    return lambda done, total: progress.update(task, completed=done, total=total)


def reproduce_sections(sections: ReportSections, cfg: SDCEConfig, size: dict, chosen: Sequence[int],
                       level: float | str | None, workers: int | None, progress: Progress) -> None:
    """The sections of `sdce reproduce all`, in order; each is skipped when done and recorded when it fails.

    `level` is Table V's subsidy (a number given, 'optimal' for s*, or None: no Table V policies); `progress` shows
    each step's bar."""
    folder = sections.folder

    @contextmanager
    def working(label: str) -> Iterator[None]:
        task = progress.add_task(label, total=None)
        try:
            yield
        finally:
            progress.remove_task(task)

    s_star, runs_step, retrain_step, fixed_rho_step = ("s* (eq. 10)", "Tables III and V: ABM runs",
                                                       "Table II: retraining", "Tables II and IV: ABM at fixed rho")
    subsidy_rule = "optimal" if level == "optimal" else "given"
    if level == "optimal":
        with working("s* (eq. 10): the continuum SDCE of pmir"):
            level = sections.value(s_star, lambda: table5_subsidy(cfg, "optimal"), cached=True)
    policies = TABLE5_POLICIES if level is not None else ()
    runs = sections.value(runs_step, lambda: simulate(
        cfg, chosen, folder, regimes=TABLE3_REGIMES, policies=policies, subsidy=level, workers=workers,
        on_progress=runs_progress(progress, "Tables III, V runs")))

    def retraining():
        retrain = {d: make_retrain_config(domain=d, size=size["retrain_size"],
                                          generations=size["retrain_generations"])
                   for d in ("text", "images", "recsys")}
        task = progress.add_task(f"retraining ({size['retrain_size']})",
                                 total=sum(len(c.rhos) * c.seeds * (c.generations + 1) for c in retrain.values()))
        return {d: run_retraining(c, folder / "retrain" / d, lambda k: progress.advance(task, k))
                for d, c in retrain.items()}

    panels = sections.value(retrain_step, retraining)

    def fixed_rho_panel():
        task = progress.add_task("ABM at fixed rho", total=len(TABLE_IV_RHOS) * size["abm_seeds"])
        return table4_abm_panel(cfg, size["abm_seeds"], ABM_FIRST_SEED, folder, on_run=lambda: progress.advance(task))

    abm = sections.value(fixed_rho_step, fixed_rho_panel)

    def section_table2():
        sections.needs(retrain_step, fixed_rho_step)
        table2(panels, abm, folder)
        return (folder / "table2.md").read_text()

    def section_table4():
        sections.needs(fixed_rho_step)
        table4(abm, folder)
        return (folder / "table4.md").read_text() + "\n\n![Table IV](table4.png)"

    def section_table3():
        sections.needs(runs_step)
        table3(runs, folder, cfg)
        return (folder / "table3.md").read_text() + "\n\n![Table III](table3.png)"

    def section_table5():
        sections.needs(s_star, runs_step)
        table5(runs, folder, cfg, subsidy_rule=subsidy_rule)
        return (folder / "table5.md").read_text() + "\n\n![Table V](table5.png)"

    def section_theorem2():
        sections.needs(runs_step)
        theorem2(runs, folder)
        return (folder / "theorem2.md").read_text() + "\n\n![Theorem 2](theorem2.png)"

    def section_theorem5():
        result = estimator_variance(cfg, [1, 2, 4, 8, 16, 32, 64])
        plot_theorem5(result, folder / "theorem5.png")
        return theorem5_section(result)

    sections.section("Table II", section_table2, cached=False)
    sections.section("Table III", section_table3, cached=False)
    sections.section("Table IV", section_table4, cached=False)
    sections.section("Table V", section_table5, cached=False)
    sections.section("Theorem 2", section_theorem2, cached=False)
    with working("Theorem 4"):
        sections.section("Theorem 4", lambda: theorem4_section(run_theorem4(cfg, folder / "theorem4"),
                                                               "theorem4/theorem4.png"))
    with working("Theorem 5"):
        sections.section("Theorem 5", section_theorem5)
    with working("Theorem 6: the continuum PMIR"):
        sections.section("Theorem 6", lambda: theorem6_section(run_theorem6(cfg, folder / "theorem6"),
                                                               "theorem6/theorem6.png"))
    with working("Calibration: SMM fits to Tables III and IV"):
        sections.section("Calibration", lambda: calibration_section(cfg, folder, size["smm_starts"], level,
                                                                    per_table=size["smm_per_table"]))


class ReportOutcome(NamedTuple):
    """What `reproduce_report` made: report.md, the lines of its summary as plain text (`ReportSections.summary`),
    the sections that failed (name: error) and the wall time of the invocation in seconds."""

    report: Path
    glance: list[str]
    failed: dict[str, str]
    wall: float


def reproduce_report(folder: Path, quick: bool, level: float | str | None, subsidy: str, workers: int | None,
                     progress: Progress, force: bool = False) -> ReportOutcome:
    """`sdce reproduce all`: every section into `folder`, then report.md with a header that says what was run.
    `quick` is the first look (`REPORT_SIZES["quick"]`); `subsidy` is how the user gave Table V's `level`. The
    folder is claimed first (`sdce.run_folder`): one of another report is refused, or cleared with `force`."""
    size = REPORT_SIZES["quick" if quick else "default"]
    start = time.perf_counter()
    cfg = load_config(None, **size["config"])
    chosen = seed_list(size["seeds"])
    claim_folder(folder, {"command": "sdce reproduce all", "config": cfg.model_dump(mode="json"), "subsidy": level},
                 RECORD, "a report", force=force)
    write_text_atomic(folder / "config.toml", config_toml(cfg))
    sections = ReportSections(folder, {"config": config_toml(cfg), "subsidy": subsidy})
    reproduce_sections(sections, cfg, size, chosen, level, workers, progress)
    wall = time.perf_counter() - start
    header = (f"# sdce reproduce all{' --quick' if quick else ''}: our tables beside the paper's\n\n"
              f"N = {cfg.n_producers} producers, M = {cfg.n_trainers} trainers, T = {cfg.generations} generations "
              f"(`config.toml`); {len(chosen)} seeds for Tables III and V ({SEEDS_RULE}); ABM seeds "
              f"{ABM_FIRST_SEED}..{ABM_FIRST_SEED + size['abm_seeds'] - 1} per rho for Tables II and IV; retraining "
              f"size `{size['retrain_size']}` over {size['retrain_generations']} generations, one seed per domain. "
              f"Wall time of this invocation (finished sections and runs are reused): {wall:.0f} s ("
              + ", ".join(f"{k} {v:.0f} s" for k, v in sections.timings.items()) + ").")
    return ReportOutcome(sections.write_report(header), sections.summary(), dict(sections.failed), wall)
