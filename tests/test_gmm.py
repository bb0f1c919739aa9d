"""The Gibbs GMM against scipy/sklearn oracles, its invariants and recovery of synthetic blobs."""
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

import gmm_module as gm
from maps import start as ms
from gmm_module import sample_categorical
from tool import cluster_scores, sweep_scorer


def fit(x, K, sweeps, rng, prior=None, start="kmeans", report="mean", burn_in=0, labels=None, align_to=None,
        map_prob=None, **run_args):
    """GibbsGMM(K, prior, sweeps, burn_in, report).run(x, rng, start, ...) as main.py runs it: a
    start named by a map ("tsne", "umap", "kmeans") made first by maps.start.start_chain, its
    probabilities voting; labels scored by the loop's scorer (tool.sweep_scorer) into the history."""
    if isinstance(start, str) and start != "prior":
        start, map_prob, _ = ms.start_chain(x, K, rng, start, align_to)
    on_sweep, scores = sweep_scorer(labels) if labels is not None else (None, {})
    res = gm.GibbsGMM(K, prior, sweeps, burn_in, report).run(x, rng, start, map_prob=map_prob,
                                                             on_sweep=on_sweep, **run_args)
    res.history.update(scores)
    return res

def random_state(rng, K=3, D=4):
    A = rng.standard_normal((K, D, D))
    Lambda = A @ np.swapaxes(A, 1, 2) + D * np.eye(D)
    pi = rng.dirichlet(np.ones(K))
    return gm.GMMState(pi, rng.standard_normal((K, D)) * 3, Lambda)


def blobs(rng, n_per=300, K=4, D=3, spread=8.0):
    centres = rng.standard_normal((K, D)) * spread
    x = np.concatenate([c + rng.standard_normal((n_per, D)) for c in centres])
    return x, np.repeat(np.arange(K), n_per)


def test_log_density_matches_scipy():
    rng = np.random.default_rng(0)
    state = random_state(rng)
    x = rng.standard_normal((50, 4)) * 2
    got = gm.log_eta_unnormalised(gm.quadratic_features(x), x, state)
    want = np.stack([np.log(p) + stats.multivariate_normal(m, np.linalg.inv(L)).logpdf(x)
                     for p, m, L in zip(state.pi, state.mu, state.Lambda)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-8)


def test_normalise_log_is_stable_for_huge_values():
    log_p = np.array([[-1e4, -1e4 - 1.0, -2e4], [1e3, 1e3, 1e3]])
    eta, lse = gm.normalise_log(log_p)
    assert np.all(np.isfinite(eta)) and np.allclose(eta.sum(1), 1.0)
    np.testing.assert_allclose(eta[0, :2], [1 / (1 + np.e**-1), np.e**-1 / (1 + np.e**-1)])
    np.testing.assert_allclose(lse[1], 1e3 + np.log(3))


def test_sufficient_stats_match_a_loop():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 3))
    c = rng.integers(0, 4, 40)
    c[c == 2] = 1  # cluster 2 empty
    counts, sx, sxx = gm.sufficient_stats(c, 4, x, gm.quadratic_features(x))
    for k in range(4):
        xk = x[c == k]
        assert counts[k] == len(xk)
        np.testing.assert_allclose(sx[k], xk.sum(0), atol=1e-12)
        np.testing.assert_allclose(sxx[k], xk.T @ xk, atol=1e-12)


def test_wishart_sampler_moments_match_scipy():
    rng = np.random.default_rng(2)
    D, nu = 3, np.array([5.0, 12.0])
    A = rng.standard_normal((2, D, D))
    W = A @ np.swapaxes(A, 1, 2) + np.eye(D)
    chol = np.linalg.cholesky(np.linalg.inv(W))
    draws = np.stack([gm.sample_wishart(nu, chol, rng) for _ in range(20000)])
    for k in range(2):
        ref = stats.wishart(df=nu[k], scale=W[k])
        np.testing.assert_allclose(draws[:, k].mean(0), ref.mean(), rtol=0.05, atol=0.05)
        np.testing.assert_allclose(draws[:, k].var(0), ref.var(), rtol=0.1, atol=0.1)


def test_log_prior_matches_scipy():
    rng = np.random.default_rng(3)
    state = random_state(rng, K=3, D=2)
    prior = gm.GMMPrior(0.7, 2.0, 4.0, rng.standard_normal(2), np.array([[1.0, 0.3], [0.3, 0.5]]))
    want = stats.dirichlet(np.full(3, 0.7)).logpdf(state.pi)
    for m, L in zip(state.mu, state.Lambda):
        want += stats.multivariate_normal(prior.m0, np.linalg.inv(prior.beta0 * L)).logpdf(m)
        want += stats.wishart(df=prior.nu0, scale=prior.W0).logpdf(L)
    assert gm.log_prior(prior, state) == pytest.approx(want, rel=1e-10)


def test_categorical_sampler_frequencies():
    rng = np.random.default_rng(4)
    prob = np.tile([0.1, 0.0, 0.6, 0.3], (100000, 1))
    counts = np.bincount(sample_categorical(prob, rng), minlength=4) / 100000
    np.testing.assert_allclose(counts, prob[0], atol=0.01)
    assert counts[1] == 0


def test_gibbs_recovers_blobs_like_sklearn():
    rng = np.random.default_rng(5)
    x, y = blobs(rng)
    res = fit(x, 4, 30, rng, labels=y)
    ari = adjusted_rand_score(y, res.classes)
    ref = adjusted_rand_score(y, GaussianMixture(4, n_init=3, random_state=0).fit_predict(x))
    assert ari > 0.95 and ari >= ref - 0.02
    assert res.history["acc"][-1] > 0.97
    # each point's message is its own cluster's mean and variance
    np.testing.assert_allclose(res.point_mu, res.state.mu[res.classes])
    assert res.eta.shape == (len(x), 4) and np.allclose(res.eta.sum(1), 1)
    assert np.all(res.point_var > 0)


def test_mean_report_is_the_averaged_argmax_and_no_worse_than_the_last_sample():
    """Both reports come from the same chain; on overlapping blobs the argmax of the
    averaged probabilities scores at least as well as the last sample."""
    x, y = blobs(np.random.default_rng(12), n_per=500, spread=2.0)
    mean = fit(x, 4, 20, np.random.default_rng(3), labels=y, burn_in=10)
    draw = fit(x, 4, 20, np.random.default_rng(3), labels=y, report="sample")
    np.testing.assert_array_equal(mean.history["log_joint"], draw.history["log_joint"])
    np.testing.assert_array_equal(mean.classes, mean.eta.argmax(axis=1))
    assert not np.array_equal(draw.classes, mean.classes)
    np.testing.assert_allclose(mean.point_mu, mean.state.mu[mean.classes])
    assert mean.history["acc"][-1] == cluster_scores(y, mean.classes)["acc"]
    assert draw.history["acc"][-1] == cluster_scores(y, draw.classes)["acc"]
    assert mean.history["acc"][-1] >= draw.history["acc"][-1]
    with pytest.raises(ValueError, match="report"):
        gm.GibbsGMM(4, report="argmax")


def test_gibbs_is_reproducible_from_seed():
    x, _ = blobs(np.random.default_rng(7))
    a = fit(x, 4, 10, np.random.default_rng(11))
    b = fit(x, 4, 10, np.random.default_rng(11))
    np.testing.assert_array_equal(a.classes, b.classes)
    np.testing.assert_array_equal(a.history["log_joint"], b.history["log_joint"])


def test_empty_clusters_stay_finite():
    rng = np.random.default_rng(8)
    x, _ = blobs(rng, n_per=20, K=2)
    res = fit(x, 8, 20, rng, start=np.zeros(len(x), dtype=int))
    assert np.all(np.isfinite(res.state.mu)) and np.all(np.isfinite(res.eta))
    assert np.all(np.isfinite(res.history["log_joint"]))


def test_adaptive_prior_follows_scale_and_shift():
    """Clustering is the same for latents x and 1e3 * x + 50 (the prior adapts)."""
    x, y = blobs(np.random.default_rng(9))
    a = fit(x, 4, 15, np.random.default_rng(1))
    b = fit(1e3 * x + 50, 4, 15, np.random.default_rng(1))
    assert adjusted_rand_score(a.classes, b.classes) > 0.99


EDGE_CASES = {
    "duplicate points": lambda rng: np.repeat(rng.standard_normal((5, 3)), 40, axis=0),
    "all points equal": lambda rng: np.ones((50, 3)),
    "collinear latents": lambda rng: np.outer(rng.standard_normal(200), [1.0, 2.0, -1.0]),
    "scale 1e-4": lambda rng: rng.standard_normal((200, 3)) * 1e-4,
    "scale 1e4": lambda rng: rng.standard_normal((200, 3)) * 1e4 + 1e5,
    "float32": lambda rng: rng.standard_normal((200, 3)).astype(np.float32),
    "clusters of one point": lambda rng: rng.standard_normal((12, 3)),
    "one dimension": lambda rng: rng.standard_normal((100, 1)),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("init", ["kmeans", "prior"])
@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_sampler_stays_finite_on_awkward_latents(case, init):
    x = EDGE_CASES[case](np.random.default_rng(0))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        res = fit(x, 10, 20, np.random.default_rng(1), start=init)
    for a in (res.eta, res.point_mu, res.point_var, res.state.Lambda, res.history["log_joint"]):
        assert np.all(np.isfinite(a))
    assert np.all(res.point_var > 0) and np.allclose(res.eta.sum(1), 1)


from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, st.tuples(st.integers(2, 30), st.integers(1, 4)),
                elements=st.floats(-1e3, 1e3, allow_nan=False, width=32)),
       K=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_eta_rows_are_finite_and_sum_to_one(x, K, seed):
    res = fit(x, K, 3, np.random.default_rng(seed), start="prior")
    assert res.eta.shape == (len(x), K)
    assert np.all(np.isfinite(res.eta)) and np.allclose(res.eta.sum(axis=1), 1.0)
    assert np.all(np.isfinite(res.point_var)) and np.all(res.point_var > 0)


def test_gmm_module_imports_nothing_of_the_project():
    """gmm_module is only the sampler: the map's start is main.py's (main.start_map)."""
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(gm))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names == {"dataclasses", "numpy", "scipy"}


def test_covariances_invert_the_precisions():
    A = np.random.default_rng(4).standard_normal((3, 5, 5))
    Lambda = A @ np.swapaxes(A, 1, 2) + np.eye(5)
    np.testing.assert_allclose(gm.covariances(Lambda), np.linalg.inv(Lambda), rtol=1e-10, atol=1e-12)
    with pytest.raises(gm.GMMError, match="not positive definite"):
        gm.covariances(-Lambda)


def test_map_vote_multiplies_the_assignment_probabilities():
    """Started from a map, eta is the product of eta from the map's classes without its
    vote and the map's probabilities, renormalised (the same parameter draw: the same rng)."""
    x, y = blobs(np.random.default_rng(19), n_per=60, K=3, spread=1.0)
    rng = np.random.default_rng(5)
    classes, prob, _ = ms.start_chain(x, 3, rng, "tsne")
    plain = fit(x, 3, 0, np.random.default_rng(6), start=classes)
    biased = fit(x, 3, 0, np.random.default_rng(6), start=classes, map_prob=prob)
    assert biased.history["log_messages"] == [] and plain.classes.shape == (len(x),)
    want = plain.eta * prob
    np.testing.assert_allclose(biased.eta, want / want.sum(axis=1, keepdims=True), rtol=1e-6, atol=1e-12)


def test_mean_report_averages_the_probabilities_after_burn_in():
    """report='mean' reports the argmax of eta averaged over sweeps burn_in+1..n: the mean of
    the etas the chain handed to on_sweep after every sweep."""
    x, y = blobs(np.random.default_rng(13), n_per=60, K=3, spread=2.0)
    n, burn_in = 6, 2
    etas = []
    on_sweep, scores = sweep_scorer(y)
    rng = np.random.default_rng(4)
    res = gm.GibbsGMM(3, None, n, burn_in).run(x, rng, ms.start_chain(x, 3, rng, "kmeans")[0],
                                               on_sweep=lambda eta, rep: (etas.append(eta), on_sweep(eta, rep)))
    res.history.update(scores)
    want = np.mean(etas[burn_in:], axis=0)
    np.testing.assert_allclose(res.eta, want, rtol=1e-12)
    np.testing.assert_array_equal(res.classes, want.argmax(axis=1))
    assert res.history["acc"][-1] == cluster_scores(y, res.classes)["acc"]
    assert res.history["sweep_acc"][-1] == cluster_scores(y, etas[-1].argmax(axis=1))["acc"]
    assert len(res.history["sweep_acc"]) == n


def test_posterior_mean_matches_scipy_wishart_mean():
    """posterior_mean: Lambda_k = E[Lambda_k] of Wishart(nu_k, W_k) (scipy's mean), mu_k = m_k
    and pi_k = (alpha0 + N_k) / sum, from the same statistics as posterior_params."""
    rng = np.random.default_rng(21)
    x, _ = blobs(rng, n_per=40, K=3, D=3)
    classes = rng.integers(0, 3, len(x))
    prior = gm.make_prior(x, 3, alpha0=2.0)
    stats_ = gm.sufficient_stats(classes, 3, x, gm.quadratic_features(x))
    _, m, W_inv, nu = gm.posterior_params(prior, *stats_)
    mean = gm.posterior_mean(prior, *stats_)
    for k in range(3):
        want = stats.wishart(df=nu[k], scale=np.linalg.inv(W_inv[k])).mean()
        np.testing.assert_allclose(mean.Lambda[k], want, rtol=1e-9)
    np.testing.assert_allclose(mean.mu, m)
    np.testing.assert_allclose(mean.pi, (2.0 + stats_[0]) / (6.0 + len(x)))


def test_mean_report_sends_the_posterior_mean_of_its_own_classes():
    """report='mean': the parameters sent are the posterior mean given the reported
    (averaged) classes, not the last sweep's draw, which belongs to other classes."""
    x, _ = blobs(np.random.default_rng(12), n_per=200, spread=2.0)
    res = fit(x, 4, 12, np.random.default_rng(3), burn_in=6)
    want = gm.posterior_mean(gm.make_prior(x, 4), *gm.sufficient_stats(res.classes, 4, x, gm.quadratic_features(x)))
    np.testing.assert_allclose(res.point_mu, want.mu[res.classes], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.point_var, np.diagonal(np.linalg.inv(want.Lambda), axis1=1, axis2=2)[res.classes],
                               rtol=1e-9)


def test_mean_report_rejects_a_burn_in_as_long_as_the_chain():
    x, _ = blobs(np.random.default_rng(14), n_per=20)
    with pytest.raises(ValueError, match="burn_in"):
        gm.GibbsGMM(4, None, 5, burn_in=5)


def test_prior_start_draws_the_first_parameters_from_the_prior():
    """init='prior' (the original code's start): with no sweep, the parameters are a draw
    from the Normal-Wishart prior, whatever the data: E[Lambda] = nu0 W0, E[mu] = m0."""
    D, K = 3, 10
    x = np.random.default_rng(15).standard_normal((40, D)) * 5 + 20
    prior = gm.GMMPrior(1.0, 1.0, 6.0, np.full(D, -1.0), 0.5 * np.eye(D))
    states = [fit(x, K, 0, np.random.default_rng(s), prior=prior, start="prior").state for s in range(300)]
    lam = np.concatenate([s.Lambda for s in states])
    mu = np.concatenate([s.mu for s in states])
    np.testing.assert_allclose(lam.mean(axis=0), 6.0 * 0.5 * np.eye(D), atol=0.15)
    np.testing.assert_allclose(mu.mean(axis=0), prior.m0, atol=0.05)


def test_prior_start_recovers_separated_blobs():
    rng = np.random.default_rng(16)
    x, y = blobs(rng, n_per=150, K=3, spread=10.0)
    res = fit(x, 3, 40, rng, start="prior", labels=y, report="sample")  # as the original code reports
    assert adjusted_rand_score(y, res.classes) > 0.95
