"""The paper's theorems as measured experiments (MODEL.md §9, §13)."""
