"""The data world of MODEL.md §2: distributions, sampling at temperature, learning rules, fidelity and drift."""
