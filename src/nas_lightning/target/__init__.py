"""Target-driven search: an Optuna study over the knobs that trade accuracy for size, each trial one run."""
