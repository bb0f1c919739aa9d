"""Clustering scores against brute force; the NumPy models import no torch."""
import itertools

import numpy as np
import pytest

import tool


def brute_force_acc(labels, pred):
    ks, cs = np.unique(pred), np.unique(labels)
    best = 0
    for perm in itertools.permutations(cs, len(ks)) if len(cs) >= len(ks) else []:
        mapping = dict(zip(ks, perm))
        best = max(best, np.mean([mapping[p] == l for p, l in zip(pred, labels)]))
    for perm in itertools.permutations(ks, len(cs)) if len(ks) > len(cs) else []:
        mapping = dict(zip(perm, cs))
        best = max(best, np.mean([mapping.get(p, -1) == l for p, l in zip(pred, labels)]))
    return best


def test_acc_of_permuted_labels_is_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    pred = rng.permutation(10)[labels] + 100
    assert tool.cluster_acc(labels, pred) == 1.0
    scores = tool.cluster_scores(labels, pred)
    assert scores["nmi"] == pytest.approx(1.0) and scores["ari"] == pytest.approx(1.0)


@pytest.mark.parametrize("k,c", [(3, 3), (4, 3), (2, 4), (5, 5)])
def test_acc_matches_brute_force(k, c):
    rng = np.random.default_rng(k * 10 + c)
    for _ in range(5):
        labels, pred = rng.integers(0, c, 40), rng.integers(0, k, 40)
        assert tool.cluster_acc(labels, pred) == pytest.approx(brute_force_acc(labels, pred))
