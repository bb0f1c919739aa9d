"""Clustering scores and samplers shared by the NumPy models (gmm, mlda, mm); imports no torch.

Scores compare predicted clusters with labels, which only ever score a run, never train it.
"""
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def contingency(labels, pred):
    """Counts table (n_pred_clusters, n_labels) with rows/cols for every value present."""
    _, pred_idx = np.unique(pred, return_inverse=True)
    _, label_idx = np.unique(labels, return_inverse=True)
    table = np.zeros((pred_idx.max() + 1, label_idx.max() + 1), dtype=np.int64)
    np.add.at(table, (pred_idx, label_idx), 1)
    return table


def cluster_acc(labels, pred):
    """Unsupervised clustering accuracy: the best one-to-one map of clusters to labels.

    Hungarian algorithm on the contingency table (Kuhn 1955); clusters left unmatched
    when there are more clusters than labels count as wrong.
    """
    table = contingency(labels, pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(labels))


def cluster_label_map(labels, pred):
    """The Hungarian one-to-one map {cluster: label} behind cluster_acc."""
    clusters, classes = np.unique(pred), np.unique(labels)
    rows, cols = linear_sum_assignment(contingency(labels, pred), maximize=True)
    return {clusters[r]: classes[c] for r, c in zip(rows, cols)}


def cluster_scores(labels, pred):
    """{'acc', 'nmi', 'ari'} of predicted clusters against labels."""
    return {"acc": cluster_acc(labels, pred),
            "nmi": float(normalized_mutual_info_score(labels, pred)),
            "ari": float(adjusted_rand_score(labels, pred))}


def sample_categorical(prob, rng):
    """One draw per row of prob (N, K) by inverse CDF on a vector of uniforms: (N,)."""
    cdf = np.cumsum(prob, axis=1)
    u = rng.random(prob.shape[0]) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), prob.shape[1] - 1)


def dirichlet_rows(conc, rng):
    """One Dirichlet draw per row of conc (R, C) via normalised gammas, floored above 0."""
    g = np.maximum(rng.standard_gamma(conc), 1e-300)
    return g / g.sum(axis=1, keepdims=True)
