"""Helpers shared by the benchmark scripts: saving per-run results and summarising seeds."""
import json
import os

import numpy as np


def save_results(folder, results):
    """Write the per-run result dicts to folder/results.json."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


def spread(values, digits=3):
    """'median [min, max]' of values, for the README tables."""
    return f"{np.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"
