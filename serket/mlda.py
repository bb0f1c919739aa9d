"""Multimodal latent Dirichlet allocation (MLDA) fitted by blocked Gibbs sampling (NumPy).

Serket's VAE+GMM+MLDA+MM model (Nakamura et al.). Every data point d
is a document with one bag of words per modality m (counts n^m, D x W_m):

    theta_d ~ Dir(alpha 1_L)             class proportions of document d
    phi^m_l ~ Dir(beta 1_{W_m})          word distribution of class l in modality m
    z ~ Cat(theta_d), w ~ Cat(phi^m_z)   every token of modality m in document d

Given theta and phi, the classes of the n^m_dw tokens of word w in document d are
Multinomial(n^m_dw, p_l ∝ theta_dl phi^m_lw b_dl), drawn for every (d, w) pair at once;
then theta | counts and phi | counts are Dirichlet. b (D, L) is a per-document bias
(the Markov model's prediction in the full model; ones when absent).
"""
from dataclasses import dataclass, field

import numpy as np



def dirichlet_rows(conc, rng):
    """One Dirichlet draw per row of conc (R, C) via normalised gammas, floored above 0."""
    g = np.maximum(rng.standard_gamma(conc), 1e-300)
    return g / g.sum(axis=1, keepdims=True)


@dataclass
class MLDAResult:
    """class_prob (D, L): P(z3_d = l); classes (D,): their argmax; theta (D, L);
    phi: list of (L, W_m) per modality; history: per sweep 'log_lik' (+ 'acc', 'nmi', 'ari')."""
    class_prob: np.ndarray
    classes: np.ndarray
    theta: np.ndarray
    phi: list
    history: dict = field(default_factory=dict)

    def predict_words(self, m):
        """Predictive word distribution of modality m for every document: (D, W_m)."""
        return self.class_prob @ self.phi[m]


def pseudo_counts(prob, weight):
    """Class probabilities (D, K) of another module as integer counts: round(weight * prob)."""
    return np.rint(np.asarray(prob) * weight).astype(np.int64)


def sample_token_classes(counts, theta_b, phi, rng):
    """Classes of all tokens of one modality: (D, W) counts -> (D, L), (L, W) class counts."""
    d_idx, w_idx = np.nonzero(counts)
    p = theta_b[d_idx] * phi[:, w_idx].T
    p /= p.sum(axis=1, keepdims=True)
    draws = rng.multinomial(counts[d_idx, w_idx], p)
    n_dl = np.stack([np.bincount(d_idx, weights=col, minlength=counts.shape[0]) for col in draws.T], 1)
    n_lw = np.stack([np.bincount(w_idx, weights=col, minlength=counts.shape[1]) for col in draws.T])
    return n_dl, n_lw


def log_likelihood(counts_list, theta, phi):
    """sum_m sum_dw n^m_dw log sum_l theta_dl phi^m_lw."""
    total = 0.0
    for counts, ph in zip(counts_list, phi):
        d_idx, w_idx = np.nonzero(counts)
        total += float((counts[d_idx, w_idx]
                        * np.log(np.einsum("nl,nl->n", theta[d_idx], ph[:, w_idx].T))).sum())
    return total


def fit_mlda(counts_list, L, n_sweeps, rng, alpha=1.0, beta=1.0, bias=None, score=None,
             progress=None, theta_init=None):
    """Run n_sweeps blocked Gibbs sweeps; counts_list: per modality (D, W_m) integer counts.

    bias: (D, L) multiplies every document's class probabilities (the MM's prediction).
    theta_init: (D, L) class probabilities to start from (e.g. the GMM's, or the last
    round's); a draw from the prior otherwise.
    score: optional callable, classes (D,) -> {name: value} (the loop's ACC/NMI/ARI against
    labels), recorded in the history after every sweep; the sampler itself knows no labels.
    """
    D = counts_list[0].shape[0]
    if any(c.shape[0] != D for c in counts_list):
        raise ValueError("every modality needs one row per document")
    bias = np.ones((D, L)) if bias is None else np.asarray(bias, dtype=float)
    theta = (rng.dirichlet(np.full(L, alpha), size=D) if theta_init is None
             else np.asarray(theta_init, dtype=float) + 1e-3)
    theta = theta / theta.sum(axis=1, keepdims=True)
    phi = [rng.dirichlet(np.full(c.shape[1], beta), size=L) for c in counts_list]
    history = {"log_lik": []}
    n_dl = np.zeros((D, L))
    for _ in progress(range(n_sweeps)) if progress else range(n_sweeps):
        n_dl = np.zeros((D, L))
        theta_b = theta * bias
        for m, counts in enumerate(counts_list):
            nd, nw = sample_token_classes(counts, theta_b, phi[m], rng)
            n_dl += nd
            phi[m] = dirichlet_rows(beta + nw, rng)
        theta = dirichlet_rows(alpha + n_dl, rng)
        history["log_lik"].append(log_likelihood(counts_list, theta, phi))
        for name, value in (score(n_dl.argmax(axis=1)) if score else {}).items():
            history.setdefault(name, []).append(value)
    class_prob = (n_dl + alpha) * bias
    class_prob /= class_prob.sum(axis=1, keepdims=True)
    return MLDAResult(class_prob, class_prob.argmax(axis=1), theta, phi, history)
