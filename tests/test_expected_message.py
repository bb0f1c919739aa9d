"""The expected-KL message (setting message="expected") against library oracles."""
import numpy as np
import torch
from scipy.stats import multivariate_normal

import gmm_module
import vae_module


def random_state(rng, K=3, D=4):
    A = rng.normal(size=(K, D, D))
    Lambda = A @ np.swapaxes(A, 1, 2) + D * np.eye(D)
    pi = rng.dirichlet(np.ones(K))
    return gmm_module.GMMState(pi, rng.normal(size=(K, D)) * 2, Lambda)


def test_responsibilities_match_scipy():
    rng = np.random.default_rng(0)
    state = random_state(rng)
    x = rng.normal(size=(50, 4)) * 2 + 5.0
    dens = np.stack([state.pi[k] * multivariate_normal(state.mu[k], np.linalg.inv(state.Lambda[k])).pdf(x)
                     for k in range(3)], axis=1)
    np.testing.assert_allclose(gmm_module.responsibilities(x, state), dens / dens.sum(1, keepdims=True),
                               rtol=1e-8, atol=1e-12)


def test_expected_kl_has_the_gradients_of_the_mixture_of_kls():
    """sum_k eta_dk KL(q_d || N(mu_k, diag v_k)) (torch.distributions) and the KL to the one
    Gaussian expected_kl_messages sends differ by a constant: equal gradients in q's mean and
    log-variance, and the difference is the same for two different q."""
    rng = np.random.default_rng(1)
    state = random_state(rng)
    eta = rng.dirichlet(np.ones(3) * 0.7, size=6)
    mean, var = gmm_module.expected_kl_messages(state, eta)
    v_k = np.diagonal(np.linalg.inv(state.Lambda), axis1=1, axis2=2)
    D = torch.distributions
    diffs = []
    for trial in range(2):
        a = torch.tensor(rng.normal(size=(6, 4)), requires_grad=True)
        logvar = torch.tensor(rng.normal(size=(6, 4)) * 0.3, requires_grad=True)
        q = D.Normal(a.unsqueeze(1), (0.5 * logvar).exp().unsqueeze(1))
        p = D.Normal(torch.tensor(state.mu).unsqueeze(0), torch.tensor(v_k).sqrt().unsqueeze(0))
        mixture = (torch.tensor(eta) * D.kl_divergence(q, p).sum(-1)).sum(1)
        one = vae_module.kl_to_prior(a, logvar, torch.tensor(mean), torch.tensor(var))
        g_mix = torch.autograd.grad(mixture.sum(), (a, logvar))
        g_one = torch.autograd.grad(one.sum(), (a, logvar))
        for gm, go in zip(g_mix, g_one):
            torch.testing.assert_close(gm, go)
        diffs.append((mixture - one).detach())
    torch.testing.assert_close(diffs[0], diffs[1])


def test_a_one_hot_eta_sends_the_point_message():
    rng = np.random.default_rng(2)
    state = random_state(rng)
    classes = rng.integers(0, 3, size=8)
    mean, var = gmm_module.expected_kl_messages(state, np.eye(3)[classes])
    point_mu, point_var = gmm_module.point_messages(state, classes)
    np.testing.assert_allclose(mean, point_mu)
    np.testing.assert_allclose(var, point_var)
