"""The data world of docs/model.md §2: distributions, sampling at temperature, learning rules, fidelity and drift."""
