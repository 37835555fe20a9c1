"""The economics of the paper as pure array functions (NumPy or JAX), shared by the ABM and the mean-field solver.

Notation: N producers (index i), M trainers (index j); bundles b are (N, M); V = Σ_i h̄_i is the total volume of
content, and technology inputs are volume shares x_H = H/V, x_S = S/V.
"""
