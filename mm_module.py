"""Markov model over the classes of a time-ordered sequence, fitted by blocked Gibbs sampling.

Serket's MM (shared/seeds/003): the classes s_t of steps t = 0..T-1 follow a Markov chain
with transition matrix A (rows ~ Dir(gamma 1_L)), and each step carries class
probabilities p_t (L,) from the module below (the MLDA), used as the likelihood of s_t:

    P(s_t = k | rest) ∝ p_t(k) A[s_{t-1}, k] A[k, s_{t+1}]

Steps of even t are independent given the odd ones, so each sweep draws all even steps at
once, then all odd steps (inverse CDF on cumulative probabilities), then every row of A.
The message back down is the one-step prediction of every step from the previous step's
class probabilities: pred_t = p_{t-1} A (uniform for t = 0).
"""
from dataclasses import dataclass, field

import numpy as np

from gmm_module import sample_categorical
from tool import cluster_scores


@dataclass
class MMResult:
    """A (L, L) last sampled transition matrix; states (T,); prediction (T, L); history."""
    A: np.ndarray
    states: np.ndarray
    prediction: np.ndarray
    history: dict = field(default_factory=dict)


def transition_counts(states, L):
    """counts[i, j] = #{t: s_{t-1} = i, s_t = j}: (L, L)."""
    counts = np.zeros((L, L))
    np.add.at(counts, (states[:-1], states[1:]), 1.0)
    return counts


def sample_transitions(states, L, gamma, rng):
    """Rows of A | states ~ Dir(gamma + transition counts)."""
    g = np.maximum(rng.standard_gamma(gamma + transition_counts(states, L)), 1e-300)
    return g / g.sum(axis=1, keepdims=True)


def resample_states(states, class_prob, A, parity, rng):
    """Draw s_t for every t of the given parity (0 or 1) given its neighbours."""
    t = np.arange(parity, len(states), 2)
    p = class_prob[t].copy()
    has_prev, has_next = t > 0, t < len(states) - 1
    p[has_prev] *= A[states[t[has_prev] - 1]]
    p[has_next] *= A[:, states[t[has_next] + 1]].T
    p /= p.sum(axis=1, keepdims=True)
    states[t] = sample_categorical(p, rng)
    return states


def one_step_prediction(class_prob, A):
    """pred_t = p_{t-1} A for t >= 1, uniform for t = 0: (T, L)."""
    L = A.shape[0]
    return np.vstack([np.full((1, L), 1.0 / L), class_prob[:-1] @ A])


def fit_markov(class_prob, n_sweeps, rng, gamma=1.0, labels=None, progress=None):
    """Fit the MM to class probabilities (T, L) of a sequence; returns an MMResult."""
    class_prob = np.maximum(np.asarray(class_prob, dtype=float), 1e-300)
    T, L = class_prob.shape
    states = sample_categorical(class_prob / class_prob.sum(1, keepdims=True), rng)
    history = {"log_lik": []}
    if labels is not None:
        history.update(acc=[], nmi=[], ari=[])
    A = sample_transitions(states, L, gamma, rng)
    for _ in progress(range(n_sweeps)) if progress else range(n_sweeps):
        for parity in (0, 1):
            states = resample_states(states, class_prob, A, parity, rng)
        A = sample_transitions(states, L, gamma, rng)
        history["log_lik"].append(float(np.log(class_prob[np.arange(T), states]).sum()
                                        + np.log(A[states[:-1], states[1:]]).sum()))
        if labels is not None:
            for name, value in cluster_scores(labels, states).items():
                history[name].append(value)
    return MMResult(A, states, one_step_prediction(class_prob, A), history)
