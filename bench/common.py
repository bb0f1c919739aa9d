"""Helpers shared by the benchmark scripts: loading and saving per-run results, summarising seeds."""
import json
import os

import numpy as np

def load_results(folder):
    """The per-run result dicts saved in folder/results.json by an earlier run ([] if none)."""
    path = os.path.join(folder, "results.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def load_many(folders):
    """The results.json rows of every folder named in a comma-separated string, in order."""
    return [r for folder in filter(None, folders.split(",")) for r in load_results(folder)]


def save_results(folder, results):
    """Write the per-run result dicts to folder/results.json."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


def save_table(folder, text):
    """Write a markdown table to folder/table.md and print it."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "table.md"), "w") as f:
        f.write(text + "\n")
    print("\n" + text)


def spread(values, digits=3):
    """'median [min, max]' of values, for the README tables."""
    return f"{np.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"
