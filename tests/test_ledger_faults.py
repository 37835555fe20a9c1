"""The money ledger and the continuum's budget gap catch a settlement that pays producers 90% of what trainers
paid: the paid side is computed from each regime's own terms, never from the payment matrix. That the honest
settlement balances is checked every generation in `test_market_invariants.py` (ABM) and by the budget gap in
`test_meanfield_market.py`, `test_policies.py` and `test_intermediary.py` (continuum)."""

import pytest

import sdce.pmir
import sdce.regimes.intermediary
import sdce.regimes.shapley
import sdce.regimes.statutory
from meanfield.solve import solve_meanfield
from sdce.config import make_config
from sdce_abm.model import SDCEModel
from tests.conftest import SMALL
from tests.test_market_invariants import assert_ledger_balances

SHORT = {**SMALL, "generations": 1, "pmir_rounds": 3}
FORMS_AT = {"intermediary": 3}  # at SMALL the intermediary first forms (S >= 0) in generation 3; before, nobody pays
# the settlement function each regime pays producers with, in the regime's module (both engines settle through it;
# Shapley's finite-N payments in the ABM, their marginal-product limit in the continuum)
SETTLEMENTS = {
    "statutory": [(sdce.regimes.statutory, "statutory_payments")],
    "shapley": [(sdce.regimes.shapley, "shapley_payments"), (sdce.regimes.shapley, "shapley_marginal_payments")],
    "pmir": [(sdce.pmir, "price_weighted_payments")],
    "intermediary": [(sdce.regimes.intermediary, "intermediary_settlement")],
}


def _short_change(monkeypatch, module, name):
    """Replace `module.name` by a settlement that keeps 10% of every payment."""
    original = getattr(module, name)

    def shorted(*args, **kwargs):
        out = original(*args, **kwargs)
        if name == "intermediary_settlement":
            return out._replace(payments=0.9 * out.payments)
        return 0.9 * out

    monkeypatch.setattr(module, name, shorted)


# The jitted PMIR rounds and continuum take the configuration as a static argument and read the settlement when
# they trace: the faulty runs use a probe size of their own (it plays no part in the ledger), so they are traced
# anew with the patched settlement, and no other test ever meets that compilation.
FAULTY = {"probe_size": 63}


@pytest.mark.parametrize("regime", sorted(SETTLEMENTS))
def test_abm_ledger_catches_a_short_settlement(regime, monkeypatch):
    def run(**faulty):
        model = SDCEModel(seed=3, regime=regime, **{**SHORT, "generations": FORMS_AT.get(regime, 1), **faulty})
        model.run_model()
        assert model.ledger[-1]["paid_by_trainers"] > 0
        return model

    for module, name in SETTLEMENTS[regime]:
        _short_change(monkeypatch, module, name)
    with pytest.raises(AssertionError, match="money ledger out of balance"):
        assert_ledger_balances(run(**FAULTY))


# statutory and pmir compile a continuum of their own (about 25 s each): -m slow; their ABM ledgers run by default
CONTINUUM_CASES = [pytest.param(r, marks=pytest.mark.slow) if r in ("statutory", "pmir") else r
                   for r in sorted(SETTLEMENTS)]


@pytest.mark.parametrize("regime", CONTINUUM_CASES)
def test_continuum_budget_gap_catches_a_short_settlement(regime, monkeypatch):
    cfg = make_config(regime=regime, n_trainers=3, generations=FORMS_AT.get(regime, 1), pmir_rounds=3)
    for module, name in SETTLEMENTS[regime]:
        _short_change(monkeypatch, module, name)
    shorted = solve_meanfield(cfg.replace(**FAULTY))
    price = shorted["price"][-1]  # what producers were paid per unit used (90% of what trainers paid)
    assert price > 0
    # the gap is a ninth of what producers received, price x units used (more than a tenth of V here); honest,
    # it is below 1e-6 of that
    assert shorted["budget_gap"][-1] > 0.01 * price, shorted["budget_gap"]
