"""Bayesian Gaussian mixture model fitted by blocked Gibbs sampling (NumPy).

Model (Bishop 2006 sec. 10.2, Murphy 2012 sec. 4.6; shared maths in README):
    pi ~ Dir(alpha0 * 1_K)
    Lambda_k ~ Wishart(nu0, W0),   mu_k | Lambda_k ~ N(m0, (beta0 Lambda_k)^-1)
    c_d ~ Cat(pi),                 x_d | c_d = k ~ N(mu_k, Lambda_k^-1)

One sweep samples c | x, theta for all points at once, then (mu, Lambda, pi) | x, c.
Everything is vectorised over data points and costs O(N K D^2) per sweep:
the quadratic form of every point under every cluster is one matrix product of the
fixed "quadratic features" vech(x x^T) (N x D(D+1)/2) with the clusters' precisions,
so there is no N x N and no N x K x D array.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln, logsumexp, multigammaln


@dataclass
class GMMPrior:
    """Normal-Wishart-Dirichlet prior. Shapes: m0 (D,), W0 (D, D); W0_inv and logdet_W0
    are computed once here, not in every sweep."""
    alpha0: float
    beta0: float
    nu0: float
    m0: np.ndarray
    W0: np.ndarray
    W0_inv: np.ndarray = field(init=False, repr=False)
    logdet_W0: float = field(init=False, repr=False)

    def __post_init__(self):
        self.W0_inv = np.linalg.inv(self.W0)
        self.logdet_W0 = np.linalg.slogdet(self.W0)[1]


# the default prior (make_prior): mixing weights held near 1/K, the Wishart worth 100
# pseudo-points, its scale adapted to the latents (W0 None)
PRIOR = {"alpha0": 1e5, "beta0": 1.0, "nu0": 100.0, "W0": None}


def original_prior(D):
    """The original code's prior for D-dimensional latents: W0 = 0.55 I, nu0 = D, alpha0 = 0.3."""
    return {"alpha0": 0.3, "beta0": 1.0, "nu0": float(D), "W0": 0.55}


class GMMError(ValueError):
    """A chain that cannot go on (a precision matrix that is not positive definite)."""


@dataclass
class GMMState:
    """One sample of the parameters: pi (K,), mu (K, D), Lambda (K, D, D)."""
    pi: np.ndarray
    mu: np.ndarray
    Lambda: np.ndarray


@dataclass
class GMMResult:
    """What the GMM sends back after a run of sweeps.

    state: the parameters sent: with report "mean", their posterior mean given the
    reported classes (posterior_mean), so classes and parameters belong together; with
    report "sample", the last sweep's draw.
    point_mu, point_var: (N, D) mean and diag(Lambda^-1) of each point's cluster.
    eta: (N, K) the assignment probabilities p(c_d = k | x_d, theta) averaged over the
    sweeps after burn-in (report "mean"), or the last sweep's (report "sample").
    classes: (N,) final assignments: argmax_k eta ("mean") or the last sample ("sample").
    history: per sweep "log_joint" (the model's log p(x, c, theta)) and "log_messages"
    (the log of the map's vote and of the messages from above, at the sampled classes).
    """
    state: GMMState
    classes: np.ndarray
    eta: np.ndarray
    point_mu: np.ndarray
    point_var: np.ndarray
    history: dict = field(default_factory=dict)


def make_prior(x, K, alpha0=1.0, beta0=1.0, nu0=None, W0=None):
    """Prior defaults that adapt to the scale of the latents x (N, D).

    W0 = None: m0 = mean of x and W0^-1 = (nu0 - D - 1) cov(x) / K^(2/D), so that
    E[Lambda_k^-1] = W0^-1 / (nu0 - D - 1) is the data's covariance shrunk until K such
    clusters fill the data's volume. nu0 = None gives D + 2, the weakest Wishart whose
    covariance has a mean. A float W0 means W0 * I with m0 = 0 (the original code used
    W0 = 0.55 I, nu0 = D, alpha0 = 0.3, beta0 = 1).
    """
    D = x.shape[1]
    nu0 = float(D + 2) if nu0 is None else float(nu0)
    if nu0 <= D - 1:
        raise ValueError(f"the Wishart's nu0 must be > D - 1 = {D - 1}, got {nu0}")
    if W0 is None:
        cov = np.atleast_2d(np.cov(x, rowvar=False))
        cov = cov + (1e-6 * np.trace(cov) / D + 1e-12) * np.eye(D)  # collinear or equal points
        scale = max(nu0 - D - 1.0, 1.0) * K ** (-2.0 / D)
        W0 = np.linalg.inv(scale * cov)
        m0 = x.mean(axis=0)
    else:
        W0 = float(W0) * np.eye(D)
        m0 = np.zeros(D)
    return GMMPrior(float(alpha0), float(beta0), nu0, m0, W0)


def quadratic_features(x):
    """vech(x_d x_d^T) with off-diagonal terms doubled: (N, D(D+1)/2).

    With P = vech(Lambda), x^T Lambda x = quadratic_features(x) @ P.
    """
    D = x.shape[1]
    rows, cols = np.triu_indices(D)
    q = x[:, rows] * x[:, cols]
    q[:, rows != cols] *= 2.0
    return q


def vech(a):
    """Upper triangle (rows of triu_indices) of (..., D, D) -> (..., D(D+1)/2)."""
    rows, cols = np.triu_indices(a.shape[-1])
    return a[..., rows, cols]


def unvech(v, D):
    """Inverse of vech for symmetric matrices: (..., D(D+1)/2) -> (..., D, D)."""
    rows, cols = np.triu_indices(D)
    a = np.zeros(v.shape[:-1] + (D, D))
    a[..., rows, cols] = v
    a[..., cols, rows] = v
    return a


def log_eta_unnormalised(q, x, state):
    """log pi_k + log N(x_d | mu_k, Lambda_k^-1) for all d, k: (N, K).

    Expands -1/2 (x - mu)^T Lambda (x - mu) into quadratic, linear and constant parts
    (Bishop eq. 10.46 with sampled rather than expected parameters); two GEMMs.
    """
    D = x.shape[1]
    chol = cholesky(state.Lambda, "a cluster's precision Lambda_k")
    half_logdet = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    lam_mu = np.einsum("kij,kj->ki", state.Lambda, state.mu)
    const = (np.log(state.pi) + half_logdet - 0.5 * np.einsum("ki,ki->k", state.mu, lam_mu)
             - 0.5 * D * np.log(2 * np.pi))
    return -0.5 * (q @ vech(state.Lambda).T) + x @ lam_mu.T + const


def cholesky(a, what):
    """Lower Cholesky factors of a (..., D, D), or a GMMError naming what failed."""
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        finite = bool(np.isfinite(a).all())
        raise GMMError(f"the GMM's {what} is not positive definite"
                       + ("" if finite else " (it holds NaN or inf: the VAE's latents diverged)")
                       + "; try another seed, or a smaller latent_dim") from None


def sample_categorical(prob, rng):
    """One draw per row of prob (N, K) by inverse CDF on a vector of uniforms: (N,)."""
    cdf = np.cumsum(prob, axis=1)
    u = rng.random(prob.shape[0]) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), prob.shape[1] - 1)


def normalise_log(log_p):
    """Rows of exp(log_p) normalised with log-sum-exp: (N, K) -> probabilities, row lse."""
    lse = logsumexp(log_p, axis=1, keepdims=True)
    return np.exp(log_p - lse), lse[:, 0]


def sample_wishart(nu, W_inv_chol, rng):
    """Lambda_k ~ Wishart(nu_k, W_k) by the Bartlett decomposition, vectorised over k.

    W_inv_chol: (K, D, D) lower Cholesky factors L_k of W_k^-1, so that F = L^-T
    satisfies F F^T = W_k and Lambda = F A A^T F^T with A lower triangular,
    A_ii ~ sqrt(chi2(nu - i)), A_ij ~ N(0, 1) below the diagonal.
    """
    K, D, _ = W_inv_chol.shape
    A = np.tril(rng.standard_normal((K, D, D)), -1)
    dof = np.asarray(nu, dtype=float)[:, None] - np.arange(D)[None, :]
    A[:, np.arange(D), np.arange(D)] = np.sqrt(rng.chisquare(dof))
    F = np.linalg.solve(np.swapaxes(W_inv_chol, 1, 2), np.broadcast_to(np.eye(D), (K, D, D)))
    FA = F @ A
    return FA @ np.swapaxes(FA, 1, 2)


def posterior_params(prior, counts, sum_x, sum_xx):
    """Normal-Wishart posterior of every cluster (Bishop eqs. 10.60-10.63).

    counts (K,), sum_x (K, D), sum_xx (K, D, D) -> beta (K,), m (K, D), W^-1 (K, D, D), nu (K,).
    """
    beta = prior.beta0 + counts
    m = (prior.beta0 * prior.m0 + sum_x) / beta[:, None]
    W_inv = (prior.W0_inv + sum_xx
             + prior.beta0 * np.outer(prior.m0, prior.m0)
             - beta[:, None, None] * np.einsum("ki,kj->kij", m, m))
    W_inv = 0.5 * (W_inv + np.swapaxes(W_inv, 1, 2))
    return beta, m, W_inv, prior.nu0 + counts


def sample_parameters(prior, counts, sum_x, sum_xx, rng):
    """(pi, mu, Lambda) | x, c. An empty cluster (counts 0) samples from its prior."""
    K, D = sum_x.shape
    beta, m, W_inv, nu = posterior_params(prior, counts, sum_x, sum_xx)
    Lambda = sample_wishart(nu, cholesky(W_inv, "a cluster's posterior scale W_k^-1"), rng)
    Lambda = 0.5 * (Lambda + np.swapaxes(Lambda, 1, 2))
    C = cholesky(beta[:, None, None] * Lambda, "a sampled precision beta_k Lambda_k")
    z = rng.standard_normal((K, D, 1))
    mu = m + np.linalg.solve(np.swapaxes(C, 1, 2), z)[..., 0]
    pi = rng.dirichlet(prior.alpha0 + counts)
    pi = np.maximum(pi, np.finfo(float).tiny)
    return GMMState(pi / pi.sum(), mu, Lambda)


def posterior_mean(prior, counts, sum_x, sum_xx):
    """The posterior mean of the parameters given the classes' statistics: a GMMState.

    pi_k = (alpha0 + N_k) / sum_j (alpha0 + N_j) (Bishop eq. 10.58), mu_k = m_k (10.61)
    and Lambda_k = E[Lambda_k] = nu_k W_k (B.80), W_k from a Cholesky solve of W_k^-1
    (10.62). counts (K,), sum_x (K, D), sum_xx (K, D, D) as sufficient_stats gives them.
    """
    _, m, W_inv, nu = posterior_params(prior, counts, sum_x, sum_xx)
    Lambda = nu[:, None, None] * covariances(W_inv, "a cluster's posterior scale W_k^-1")
    alpha = prior.alpha0 + counts
    return GMMState(alpha / alpha.sum(), m, 0.5 * (Lambda + np.swapaxes(Lambda, 1, 2)))


def sufficient_stats(classes, K, x, q):
    """N_k (K,), sum_x (K, D), sum x x^T (K, D, D) as three matrix products."""
    onehot = np.zeros((x.shape[0], K))
    onehot[np.arange(x.shape[0]), classes] = 1.0
    counts = onehot.sum(axis=0)
    return counts, onehot.T @ x, unvech(_halve_offdiag(onehot.T @ q, x.shape[1]), x.shape[1])


def _halve_offdiag(v, D):
    rows, cols = np.triu_indices(D)
    v = v.copy()
    v[:, rows != cols] *= 0.5
    return v


def log_prior(prior, state):
    """log Dir(pi) + sum_k log N(mu_k | m0, (beta0 Lambda_k)^-1) Wishart(Lambda_k | nu0, W0)."""
    K, D = state.mu.shape
    a = np.full(K, prior.alpha0)
    lp = gammaln(a.sum()) - gammaln(a).sum() + ((a - 1) * np.log(state.pi)).sum()
    logdet_lam = np.linalg.slogdet(state.Lambda)[1]
    diff = state.mu - prior.m0
    quad = prior.beta0 * np.einsum("ki,kij,kj->k", diff, state.Lambda, diff)
    lp += (0.5 * (D * np.log(prior.beta0 / (2 * np.pi)) + logdet_lam) - 0.5 * quad).sum()
    nu = prior.nu0
    tr = np.einsum("ij,kji->k", prior.W0_inv, state.Lambda)
    lp += (0.5 * (nu - D - 1) * logdet_lam - 0.5 * tr - 0.5 * nu * D * np.log(2)
           - 0.5 * nu * prior.logdet_W0 - multigammaln(0.5 * nu, D)).sum()
    return float(lp)


def covariances(Lambda, what="a cluster's precision Lambda_k"):
    """The inverses of symmetric positive definite matrices Lambda (K, D, D) from their
    Cholesky factors L_k, as L_k^-T L_k^-1 (no explicit inverse): (K, D, D). what: named
    in the GMMError when one is not positive definite."""
    K, D, _ = Lambda.shape
    L_inv = np.linalg.solve(cholesky(Lambda, what), np.broadcast_to(np.eye(D), (K, D, D)))
    return np.swapaxes(L_inv, 1, 2) @ L_inv


def point_messages(state, classes):
    """Each point's cluster mean and diag(Lambda^-1): two (N, D) arrays."""
    var = np.diagonal(covariances(state.Lambda), axis1=1, axis2=2)
    return state.mu[classes], var[classes]


def responsibilities(x, state):
    """p(c_d = k | x_d, theta) = pi_k N(x_d | mu_k, Lambda_k^-1) / sum_j (...) under the
    parameters alone, with no map's vote and no message from above (Bishop eq. 9.23):
    latents x (N, D) -> (N, K). x is centred first, as in the chain."""
    x = np.asarray(x, dtype=np.float64)
    shift = x.mean(axis=0)
    centred = GMMState(state.pi, state.mu - shift, state.Lambda)
    return normalise_log(log_eta_unnormalised(quadratic_features(x - shift), x - shift, centred))[0]


def expected_kl_messages(state, eta):
    """The per-point Gaussian N(m_d, diag v_d) whose KL from any q = N(a, diag s^2) equals
    sum_k eta_dk KL(q || N(mu_k, diag v_k)) up to a term free of q (VaDE's KL, Jiang et al.
    2017 eq. 11, with the GMM's cluster probabilities eta in place of an encoder's):
    1 / v_d = sum_k eta_dk / v_k and m_d = v_d sum_k eta_dk mu_k / v_k, v_k = diag(Lambda_k^-1).
    So the VAE's gradients are those of the expected KL. eta (N, K) -> two (N, D) arrays."""
    inv_var = 1.0 / np.diagonal(covariances(state.Lambda), axis1=1, axis2=2)
    precision = eta @ inv_var
    return (eta @ (state.mu * inv_var)) / precision, 1.0 / precision


class GibbsGMM:
    """The Bayesian GMM above, sampled by blocked Gibbs sweeps; the chain knows no labels.

        gmm = GibbsGMM(K, prior, sweeps=100, burn_in=50, report="mean")
        result = gmm.run(x, rng, start=classes, map_prob=prob)   # a GMMResult

    prior: a GMMPrior (make_prior(x, K) of the data when None). report: the classes the
    chain reports and sends back: "mean", the argmax of the assignment probabilities
    averaged over the sweeps after the first burn_in (a Monte Carlo estimate of
    p(c_d | x); eta is then that average), or "sample", the last sweep's draw (the
    original code's).
    """

    def __init__(self, K, prior=None, sweeps=100, burn_in=50, report="mean"):
        if report not in ("mean", "sample"):
            raise ValueError(f"report must be 'mean' or 'sample', got {report!r}")
        if report == "mean" and not 0 <= burn_in < max(sweeps, 1):
            raise ValueError(f"burn_in must be between 0 and sweeps - 1 = {sweeps - 1}, got {burn_in}")
        self.K, self.prior, self.sweeps, self.burn_in, self.report = K, prior, sweeps, burn_in, report

    def run(self, x, rng, start, map_prob=None, bias=None, on_sweep=None, progress=None):
        """Run the sweeps on latents x (N, D) with the numpy Generator rng: a GMMResult.

        start: classes (N,) to start from (the caller's map, maps.start.start_chain), or
        "prior": the first parameters drawn from the prior, as the original code did.
        map_prob: (N, K) the map's cluster probabilities, which vote in every sweep: they
        multiply the assignment probabilities, like bias, so a point the Gaussians in x
        leave in doubt goes where the map puts it.
        bias: (N, K) a message from a module above (the MLDA's prediction of each class).
        on_sweep(eta, reported): called after every sweep with that sweep's assignment
        probabilities (N, K) and the classes (N,) the chain would report if it stopped
        there: the loop scores them against labels. progress wraps range(sweeps).
        The history's "log_joint" is the model's own log p(x, c, theta) per sweep; the
        messages' log sum_d log m_d(c_d) (the map's vote and bias) is "log_messages".
        """
        K, prior = self.K, self.prior
        x = np.asarray(x, dtype=np.float64)
        prior = make_prior(x, K) if prior is None else prior
        shift = x.mean(axis=0)  # centre, so the expanded quadratic form loses no precision
        x = x - shift
        prior = GMMPrior(prior.alpha0, prior.beta0, prior.nu0, prior.m0 - shift, prior.W0)
        q = quadratic_features(x)
        if isinstance(start, str):
            if start != "prior":
                raise ValueError(f"start must be classes (N,) or 'prior', got {start!r}")
            D = x.shape[1]
            state = sample_parameters(prior, np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D)), rng)
        else:
            state = sample_parameters(prior, *sufficient_stats(np.asarray(start), K, x, q), rng)
        if map_prob is not None:
            bias = map_prob if bias is None else bias * map_prob
        history = {"log_joint": [], "log_messages": []}
        log_bias = 0.0 if bias is None else np.log(np.maximum(bias, np.finfo(float).tiny))
        eta = eta_sum = None
        rows = np.arange(len(x))
        for sweep in progress(range(self.sweeps)) if progress else range(self.sweeps):
            log_model = log_eta_unnormalised(q, x, state)
            eta, _ = normalise_log(log_model + log_bias)
            classes = sample_categorical(eta, rng)
            history["log_joint"].append(float(log_model[rows, classes].sum()) + log_prior(prior, state))
            history["log_messages"].append(0.0 if bias is None else float(log_bias[rows, classes].sum()))
            state = sample_parameters(prior, *sufficient_stats(classes, K, x, q), rng)
            if self.report == "mean" and sweep >= self.burn_in:
                eta_sum = eta if eta_sum is None else eta_sum + eta
            if on_sweep is not None:
                on_sweep(eta, classes if self.report == "sample" else (eta if eta_sum is None else eta_sum).argmax(axis=1))
        if eta is None:
            eta, _ = normalise_log(log_eta_unnormalised(q, x, state) + log_bias)
        if eta_sum is not None:
            eta = eta_sum / (self.sweeps - self.burn_in)
        if self.report == "mean" or self.sweeps == 0:
            classes = eta.argmax(axis=1)
        if eta_sum is not None:  # parameters that belong to the averaged classes, not one draw's
            state = posterior_mean(prior, *sufficient_stats(classes, K, x, q))
        state.mu = state.mu + shift
        point_mu, point_var = point_messages(state, classes)
        return GMMResult(state, classes, eta, point_mu, point_var, history)
