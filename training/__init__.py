"""How a multi-task network is trained: MultiTaskModel, balancers, solvers, line search."""
