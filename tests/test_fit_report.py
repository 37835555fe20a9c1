"""The report's calibration section (`calibration.fit_report`): a table is reproduced by admissible parameters when
the SMM fit to it leaves J within the χ² critical value of its degrees of freedom, never when no start converged."""

import pytest
from scipy.stats import chi2

from calibration.fit_report import reproduced
from calibration.smm import SMMFit


def _fit(loss, cells, converged=True, held=0):
    rows = [{"moment": f"m{k}", "in_fit": True} for k in range(cells)]
    rows += [{"moment": f"h{k}", "in_fit": False} for k in range(held)]
    return SMMFit(params={}, se={}, loss=loss, converged=converged, moments=rows, starts=[loss])


@pytest.mark.parametrize("cells, params", [(10, 4), (30, 4), (5, 1)])
def test_reproduced_is_the_chi_squared_test_of_the_fit(cells, params):
    critical = chi2.ppf(0.95, cells - params)  # scipy's quantile, e.g. 12.59 at 6 degrees of freedom
    assert reproduced(_fit(0.999 * critical, cells, held=3), params)[0] is True
    holds, numbers = reproduced(_fit(1.001 * critical, cells, held=3), params)
    assert holds is False and f"over {cells} cells" in numbers and f"({cells - params})" in numbers


def test_no_converged_start_or_too_few_cells_is_not_checked():
    assert reproduced(_fit(1.0, 10, converged=False), 4)[0] is None
    holds, numbers = reproduced(_fit(0.0, 4), 4)
    assert holds is None and "no test" in numbers
    assert reproduced(_fit(3.0, 7), 4)[0] is True  # 3 degrees of freedom: critical 7.81
