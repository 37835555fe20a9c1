import pytest

from sdce.config import REGIMES

SMALL = dict(n_producers=64, n_trainers=4, generations=4, probe_size=64)


@pytest.fixture(params=REGIMES)
def regime(request):
    return request.param
