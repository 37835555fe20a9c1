"""A run folder belongs to one set of settings (`sdce.run_folder.claim_folder`)."""

import json

import pytest

from sdce.errors import ConfigError
from sdce.run_folder import claim_folder


def test_claim_refuses_other_settings_and_names_them(tmp_path):
    claim_folder(tmp_path / "run", {"seed": 1, "tau": 0.8}, "config.json", "a run")
    claim_folder(tmp_path / "run", {"seed": 1, "tau": 0.8}, "config.json", "a run")  # the same: resumes
    with pytest.raises(ConfigError, match=r"holds a run with other settings \(tau: 0.8 there, 0.9 now\)"):
        claim_folder(tmp_path / "run", {"seed": 1, "tau": 0.9}, "config.json", "a run")
    with pytest.raises(ConfigError, match="extra: None there, 2 now"):  # a key the folder lacks differs too
        claim_folder(tmp_path / "run", {"seed": 1, "tau": 0.8, "extra": 2}, "config.json", "a run")
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == {"seed": 1, "tau": 0.8}


def test_merge_adds_new_keys_and_checks_shared_ones(tmp_path):
    claim_folder(tmp_path, {"n": 8}, "settings.json", "runs", merge=True)
    claim_folder(tmp_path, {"n": 8, "table5.subsidy": 0.1}, "settings.json", "runs", merge=True)
    assert json.loads((tmp_path / "settings.json").read_text()) == {"n": 8, "table5.subsidy": 0.1}
    with pytest.raises(ConfigError, match="n: 8 there, 16 now"):
        claim_folder(tmp_path, {"n": 16}, "settings.json", "runs", merge=True)
