"""The paper's theorems as measured experiments (docs/model.md §7)."""
