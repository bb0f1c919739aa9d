"""Markov model over the classes of a time-ordered sequence, fitted by blocked Gibbs sampling.

Serket's MM: hidden states s_t of steps t = 0..T-1 follow a Markov
chain with transition matrix A (rows ~ Dir(gamma 1_L)). The module below (the MLDA)
describes each step by its class probabilities p_t (L,), the likelihood of the step's
class c_t, and state k emits classes with probabilities B[k] (rows ~ Dir(delta 1_L)):

    P(s_t = k | rest) ∝ A[s_{t-1}, k] A[k, s_{t+1}] (p_t . B[k])      (c_t summed out)
    P(c_t = c | s_t) ∝ p_t(c) B[s_t, c]

B starts at the MLDA's classes (state k = class k) but lets two states share one MLDA
class, so that two digits the MLDA merged can still be told apart by their neighbours.
Steps of even t are independent given the odd ones, so each sweep draws all even steps
at once, then all odd steps (inverse CDF on cumulative probabilities), then every c_t,
then the rows of A and B from their Dirichlet posteriors.

During the first half of the sweeps a state that is left (nearly) empty is re-seeded by a
split: the state whose steps have the largest second-commonest predecessor (two sources
merged into one state) gives the smallest state its steps that follow that predecessor,
when they are at least twice as many as the smallest state's. This is a relocation
heuristic, like k-means' for empty clusters, not a reversible MCMC move; the second half
of the sweeps is plain Gibbs sampling.

The message back down is the one-step prediction of every step, pred_t = q_{t-1} A, where
q_{t-1} holds how often step t-1 was in each state over the second half (uniform at t = 0).
"""
from dataclasses import dataclass, field

import numpy as np

from gmm_module import sample_categorical
from serket.mlda import dirichlet_rows


@dataclass
class MMResult:
    """A (L, L) transition and B (L, L) emission matrix of the last sweep; states (T,);
    prediction (T, L): the message down; history: per sweep 'log_lik' (+ 'acc', 'nmi', 'ari')."""
    A: np.ndarray
    B: np.ndarray
    states: np.ndarray
    prediction: np.ndarray
    history: dict = field(default_factory=dict)


def transition_counts(states, L):
    """counts[i, j] = #{t: s_{t-1} = i, s_t = j}: (L, L)."""
    return transition_counts_between(states[:-1], states[1:], L)


def transition_counts_between(a, b, L):
    """counts[i, j] = #{t: a_t = i, b_t = j}: (L, L)."""
    counts = np.zeros((L, L))
    np.add.at(counts, (a, b), 1.0)
    return counts


def sample_emissions(states, class_prob, B, rng):
    """Draw every step's class c_t | s_t, p_t, B: (T,)."""
    post = class_prob * B[states]
    return sample_categorical(post / post.sum(axis=1, keepdims=True), rng)


def resample_states(states, class_prob, A, B, parity, rng):
    """Draw s_t for every t of the given parity (0 or 1) given its neighbours."""
    t = np.arange(parity, len(states), 2)
    p = class_prob[t] @ B.T
    has_prev, has_next = t > 0, t < len(states) - 1
    p[has_prev] *= A[states[t[has_prev] - 1]]
    p[has_next] *= A[:, states[t[has_next] + 1]].T
    p /= p.sum(axis=1, keepdims=True)
    states[t] = sample_categorical(p, rng)
    return states


def reseed_small_states(states, L):
    """Split a state that two predecessors feed into the smallest state (see the module doc),
    while the part split off would be at least twice as large as that state."""
    for _ in range(L):
        sizes = np.bincount(states, minlength=L)
        pred = transition_counts(states, L).T  # pred[j, i]: steps in j that follow i
        second = np.sort(pred, axis=1)[:, -2]
        j, small = int(second.argmax()), int(sizes.argmin())
        if j == small or second[j] < max(2, 2 * sizes[small]):
            break
        source = int(np.argsort(pred[j])[-2])
        t = np.nonzero((states[1:] == j) & (states[:-1] == source))[0] + 1
        states[t] = small
    return states


def one_step_prediction(state_freq, A):
    """pred_t = q_{t-1} A for t >= 1, uniform for t = 0; state_freq q (T, L): (T, L)."""
    L = A.shape[0]
    return np.vstack([np.full((1, L), 1.0 / L), state_freq[:-1] @ A])


def fit_markov(class_prob, n_sweeps, rng, gamma=1.0, delta=1.0, score=None, progress=None):
    """Fit the MM to class probabilities (T, L) of a sequence; returns an MMResult.
    score: optional callable, states (T,) -> {name: value}, recorded after every sweep."""
    class_prob = np.maximum(np.asarray(class_prob, dtype=float), 1e-300)
    class_prob = class_prob / class_prob.sum(axis=1, keepdims=True)
    T, L = class_prob.shape
    states = sample_categorical(class_prob, rng)
    emitted = states.copy()
    history = {"log_lik": []}
    burn_in = n_sweeps // 2
    state_freq = np.zeros((T, L))
    A = dirichlet_rows(gamma + transition_counts(states, L), rng)
    B = dirichlet_rows(delta + transition_counts_between(states, emitted, L), rng)
    for sweep in progress(range(n_sweeps)) if progress else range(n_sweeps):
        for parity in (0, 1):
            states = resample_states(states, class_prob, A, B, parity, rng)
        if sweep < burn_in:
            states = reseed_small_states(states, L)
        else:
            state_freq[np.arange(T), states] += 1.0
        emitted = sample_emissions(states, class_prob, B, rng)
        A = dirichlet_rows(gamma + transition_counts(states, L), rng)
        B = dirichlet_rows(delta + transition_counts_between(states, emitted, L), rng)
        emission = np.einsum("tl,tl->t", class_prob, B[states])
        history["log_lik"].append(float(np.log(emission).sum() + np.log(A[states[:-1], states[1:]]).sum()))
        for name, value in (score(states) if score else {}).items():
            history.setdefault(name, []).append(value)
    state_freq /= state_freq.sum(axis=1, keepdims=True)
    return MMResult(A, B, states, one_step_prediction(state_freq, A), history)
