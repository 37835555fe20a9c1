"""Typed results: JSON round trips and frames (`sdce.results`)."""

import json

import numpy as np

from sdce.results import Equilibrium, TimeAverage, Trajectory
from sdce_abm.model import SDCEModel
from sdce_abm.output import summary


def test_trajectory_round_trips_through_json_and_frames_by_generation():
    model = SDCEModel(seed=3, regime="shapley", n_producers=24, n_trainers=2, generations=2)
    model.run_model()
    run = summary(model)
    back = Trajectory.from_json(json.loads(json.dumps(run.to_json())))
    assert back == run
    assert "level" not in run.to_json()  # the ABM's summary keys, as `sdce run --json` has always printed
    frame = run.to_frame()
    assert list(frame.index) == [0, 1, 2] and frame["W"].tolist() == run.welfare_path
    assert frame["rho"].tolist() == model.datacollector.get_model_vars_dataframe()["rho"].tolist()


def test_equilibrium_json_flattens_the_time_average_and_frames_by_type():
    types = {"phi_bar": np.array([0.2, 0.8]), "nu": np.array([0.1, 0.9]), "weight": np.array([0.5, 0.5]),
             "provenance": np.array([0.1, 0.7]), "price": np.array([0.01, 0.03])}
    base = dict(regime="pmir", learning_rule="mle", rho_star=0.6, quality_star=0.5, kl_star=0.02, s_star=0.01,
                w_star=0.3, welfare={"W": 0.5}, price_star={"mean": 0.02}, provenance_star={"mean": 0.4},
                unique=True, starts=1, converged=[True], generations_to_converge=[150], start_spread={"rho": 0.0},
                residuals={"model": 0.0}, types=types)
    plain = Equilibrium(**base).to_json()
    assert "types" not in plain and "s_star_se" not in plain and plain["rho_star"] == 0.6
    average = TimeAverage(0.02, 0.001, 0.01, {"kl": 1e-4}, [0.05], [0.01], [1.2], 4.0, [100, 150])
    timed = Equilibrium(**base, time_average=average).to_json()
    assert timed["s_star_se"] == 0.001 and timed["window"] == [100, 150] and "time_average" not in timed
    json.dumps(timed)
    assert Equilibrium(**base).to_frame()["price"].tolist() == [0.01, 0.03]
