"""Calibration: reduced-form estimation of the collapse law (`ols`), the paper's tables reproduced (`tables`,
`reproduce`) and the recursive-retraining benchmark (`retrain`). Table I's inputs are `sdce.paper.table1`."""
