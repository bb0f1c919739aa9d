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
from scipy.linalg import solve_triangular
from scipy.special import gammaln, logsumexp, multigammaln

from stats import cluster_acc, cluster_scores, sample_categorical


@dataclass
class GMMPrior:
    """Normal-Wishart-Dirichlet prior. Shapes: m0 (D,), W0 (D, D)."""
    alpha0: float
    beta0: float
    nu0: float
    m0: np.ndarray
    W0: np.ndarray


@dataclass
class GMMState:
    """One sample of the parameters: pi (K,), mu (K, D), Lambda (K, D, D)."""
    pi: np.ndarray
    mu: np.ndarray
    Lambda: np.ndarray


@dataclass
class GMMResult:
    """What the GMM sends back after a run of sweeps.

    point_mu, point_var: (N, D) mean and diag(Lambda^-1) of each point's cluster.
    eta: (N, K) the last sweep's assignment probabilities p(c_d = k | x_d, theta), or with
    assign='mean' their average over the sweeps after burn-in.
    classes: (N,) final assignments: argmax_k eta (assign='argmax' or 'mean') or the last sample.
    history: per sweep lists 'log_joint' and, with labels, 'acc', 'nmi', 'ari' of the
    classes reported after that sweep and 'sweep_acc' of the sweep's own argmax.
    map_points: (N, 2) the t-SNE map the chain started from (NaN rows for points left out
    of the map), or None when it started otherwise; plots reuse it instead of a new t-SNE.
    """
    state: GMMState
    classes: np.ndarray
    eta: np.ndarray
    point_mu: np.ndarray
    point_var: np.ndarray
    history: dict = field(default_factory=dict)
    map_points: np.ndarray = None


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
        raise ValueError(f"gmm_nu0 must be > latent_dim - 1 = {D - 1}, got {nu0}")
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
    chol = np.linalg.cholesky(state.Lambda)
    half_logdet = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    lam_mu = np.einsum("kij,kj->ki", state.Lambda, state.mu)
    const = (np.log(state.pi) + half_logdet - 0.5 * np.einsum("ki,ki->k", state.mu, lam_mu)
             - 0.5 * D * np.log(2 * np.pi))
    return -0.5 * (q @ vech(state.Lambda).T) + x @ lam_mu.T + const


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
    W_inv = (np.linalg.inv(prior.W0) + sum_xx
             + prior.beta0 * np.outer(prior.m0, prior.m0)
             - beta[:, None, None] * np.einsum("ki,kj->kij", m, m))
    W_inv = 0.5 * (W_inv + np.swapaxes(W_inv, 1, 2))
    return beta, m, W_inv, prior.nu0 + counts


def sample_parameters(prior, counts, sum_x, sum_xx, rng):
    """(pi, mu, Lambda) | x, c. An empty cluster (counts 0) samples from its prior."""
    K, D = sum_x.shape
    beta, m, W_inv, nu = posterior_params(prior, counts, sum_x, sum_xx)
    Lambda = sample_wishart(nu, np.linalg.cholesky(W_inv), rng)
    Lambda = 0.5 * (Lambda + np.swapaxes(Lambda, 1, 2))
    C = np.linalg.cholesky(beta[:, None, None] * Lambda)
    z = rng.standard_normal((K, D, 1))
    mu = m + np.linalg.solve(np.swapaxes(C, 1, 2), z)[..., 0]
    pi = rng.dirichlet(prior.alpha0 + counts)
    pi = np.maximum(pi, np.finfo(float).tiny)
    return GMMState(pi / pi.sum(), mu, Lambda)


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
    logdet_W0 = np.linalg.slogdet(prior.W0)[1]
    tr = np.einsum("ij,kji->k", np.linalg.inv(prior.W0), state.Lambda)
    lp += (0.5 * (nu - D - 1) * logdet_lam - 0.5 * tr - 0.5 * nu * D * np.log(2)
           - 0.5 * nu * logdet_W0 - multigammaln(0.5 * nu, D)).sum()
    return float(lp)


def umap_classes(x, K, rng, n_init=10, dim=10, neighbors=20):
    """Classes (N,) and map probabilities (N, K) from a UMAP embedding of all of x (N, D).

    UMAP (McInnes et al. 2018; umap-learn) embeds every point in `dim` dimensions
    (neighbors nearest neighbours, min_dist 0, so clusters pack tightly), and a
    full-covariance GMM (EM, n_init restarts, the highest likelihood kept) clusters the
    embedding, as N2D (McConville et al. 2020) does; the Gibbs chain then runs on x itself.
    The probabilities are that GMM's posterior p(k | embedded point). Seeded from rng, so
    the map reproduces; umap-learn then runs on one thread.
    """
    import warnings
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits
    # threadpool_limits restores every OpenMP pool's thread count on exit: numba's pool,
    # started by umap-learn, sets the count of the OpenMP runtime torch shares to the
    # number of cores, which would override a user's OMP_NUM_THREADS for the VAE's training
    with warnings.catch_warnings(), threadpool_limits(limits=None, user_api="openmp"):
        warnings.simplefilter("ignore")  # numba's and umap-learn's notices about threads and seeds
        import umap
        seed = int(rng.integers(2**31 - 1))
        e = umap.UMAP(n_components=min(dim, len(x) - 2), n_neighbors=min(neighbors, len(x) - 1),
                      min_dist=0.0, random_state=seed, n_jobs=1).fit_transform(x)
    map_gmm = GaussianMixture(K, n_init=n_init, random_state=seed).fit(e)
    return map_gmm.predict(e), map_gmm.predict_proba(e)


def tsne_classes(x, K, rng, n_init=10, tsne_max=10000):
    """Classes (N,), map probabilities (N, K) and the map (N, 2) from a 2-D t-SNE map of x (N, D).

    The map is clustered by a full-covariance GMM (EM, n_init restarts, the highest
    likelihood kept), as N2D (McConville et al. 2020) clusters a manifold embedding of
    auto-encoder latents; the Gibbs chain then runs on x itself. The probabilities are that
    GMM's posterior p(k | map point). Above tsne_max points the map is made of a random
    subset of tsne_max points; every other point joins the class whose Gaussian (fitted in
    x to the subset's classes) gives it the highest density, as t-SNE cannot place new
    points, its map probabilities are uniform (1/K) (the map says nothing about it) and
    its row of the map is NaN.
    """
    from sklearn.manifold import TSNE
    from sklearn.mixture import GaussianMixture
    seed = int(rng.integers(2**31 - 1))
    subset = (np.sort(rng.choice(len(x), tsne_max, replace=False)) if len(x) > tsne_max
              else np.arange(len(x)))
    e = TSNE(2, init="pca", random_state=seed,
             perplexity=min(30.0, len(subset) - 1.0)).fit_transform(x[subset])
    map_gmm = GaussianMixture(K, n_init=n_init, random_state=seed).fit(e)
    sub_classes = map_gmm.predict(e)
    prob = np.full((len(x), K), 1.0 / K)
    prob[subset] = map_gmm.predict_proba(e)
    points = np.full((len(x), 2), np.nan)
    points[subset] = e
    if len(subset) == len(x):
        return sub_classes, prob, points
    classes = gaussian_classes(x, x[subset], sub_classes, K)
    classes[subset] = sub_classes
    return classes, prob, points


def gaussian_classes(x, x_fit, fit_classes, K):
    """Class of every point of x (N, D) under Gaussians fitted to x_fit (M, D) by class:
    argmax_k log(n_k / M) + log N(x | mean_k, cov_k). Classes with < 2 points are skipped."""
    D = x.shape[1]
    log_p = np.full((len(x), K), -np.inf)
    for k in range(K):
        members = x_fit[fit_classes == k]
        if len(members) < 2:
            continue
        diff = x - members.mean(axis=0)
        cov = np.atleast_2d(np.cov(members, rowvar=False))
        cov = cov + 1e-6 * (np.trace(cov) / D + 1e-12) * np.eye(D)
        L = np.linalg.cholesky(cov)
        y = solve_triangular(L, diff.T, lower=True)
        log_p[:, k] = (np.log(len(members) / len(x_fit)) - np.log(np.diag(L)).sum()
                       - 0.5 * (y * y).sum(axis=0))
    return log_p.argmax(axis=1)


def class_renaming(classes, reference, K):
    """The renaming (K,) of cluster names 0..K-1 that makes classes (N,) agree best with
    reference (N,): new name of cluster j = rename[j], the permutation that maximises the
    number of points whose two labels match (Hungarian algorithm on the K x K contingency
    table)."""
    from scipy.optimize import linear_sum_assignment
    overlap = np.zeros((K, K), dtype=np.int64)
    np.add.at(overlap, (classes, reference), 1)
    rows, cols = linear_sum_assignment(-overlap)
    rename = np.empty(K, dtype=np.int64)
    rename[rows] = cols
    return rename


def start_chain(x, K, rng, init, align_to=None, n_init=10):
    """Classes (N,) a new chain starts from, chosen without labels, the map's probabilities
    (N, K) (None unless init is 'umap' or 'tsne') and its points (N, 2) (only for 'tsne').

    'umap': umap_classes (a GMM of a 10-D UMAP map of all of x), with its probabilities.
    'tsne': tsne_classes (a GMM of a 2-D t-SNE map of a 10,000-point subset of x).
    'kmeans': k-means++ with n_init restarts, the lowest inertia kept.
    'random': uniformly random assignments.
    ('prior', parameters drawn from the prior, has no classes: fit_gibbs starts it.)
    With align_to (N,) the clusters are renamed to agree with it (class_renaming), the
    columns of the probabilities with them; only cluster names change.
    """
    map_prob = map_points = None
    if init == "random":
        classes = rng.integers(0, K, size=x.shape[0])
    elif init == "tsne":
        classes, map_prob, map_points = tsne_classes(x, K, rng, n_init)
    elif init == "umap":
        classes, map_prob = umap_classes(x, K, rng, n_init)
    else:
        from sklearn.cluster import KMeans
        classes = KMeans(K, n_init=n_init, random_state=int(rng.integers(2**31 - 1))).fit_predict(x)
    if align_to is not None:
        rename = class_renaming(classes, align_to, K)
        classes = rename[classes]
        map_prob = None if map_prob is None else map_prob[:, np.argsort(rename)]
    return classes, map_prob, map_points


def point_messages(state, classes):
    """Each point's cluster mean and diag(Lambda^-1): two (N, D) arrays."""
    cov = np.linalg.inv(state.Lambda)
    var = np.diagonal(cov, axis1=1, axis2=2)
    return state.mu[classes], var[classes]


def fit_gibbs(x, K, n_sweeps, rng, prior=None, init="kmeans", classes=None, labels=None,
              progress=None, bias=None, align_to=None, assign="argmax", map_bias=False, burn_in=0):
    """Run n_sweeps blocked Gibbs sweeps on latents x (N, D); returns a GMMResult.

    classes: (N,) assignments to start from (a warm start); otherwise `init` chooses
    (start_chain; 'prior' draws the first parameters from the prior, as the original code
    did), and with align_to (N,) (the last round's assignments) its clusters are renamed
    to match them (class_renaming), so cluster k and a bias column k keep their meaning.
    bias: (N, K) message from a module above (the MLDA's prediction of each point's
    class) that multiplies the assignment probabilities in every sweep.
    labels: (N,) true labels, used only to record ACC/NMI/ARI per sweep.
    progress: optional callable wrapping range(n_sweeps) (e.g. tqdm).
    assign: the classes reported and sent back: 'argmax' gives each point its most probable
    cluster under the last sweep's parameters, 'sample' the last sampled c, and 'mean' the
    argmax of the assignment probabilities averaged over the sweeps after the first
    burn_in (a Monte Carlo estimate of p(c_d | x); eta is then that average).
    map_bias: with init 'umap' or 'tsne' and no classes given, the map's probabilities
    (umap_classes, tsne_classes) multiply the assignment probabilities in every sweep, like bias: a point
    the Gaussians in x leave in doubt goes where the map puts it, and the reverse.
    The history's scores of a sweep are those of the classes the chain would report if it
    stopped there (for 'mean', the average so far); 'sweep_acc' is the ACC of the sweep's
    own argmax, so a plot shows both the chain and what it reports.
    """
    if assign not in ("argmax", "sample", "mean"):
        raise ValueError(f"assign must be 'argmax', 'sample' or 'mean', got {assign!r}")
    if assign == "mean" and not 0 <= burn_in < n_sweeps:
        raise ValueError(f"burn_in must be between 0 and n_sweeps - 1 = {n_sweeps - 1}, got {burn_in}")
    x = np.asarray(x, dtype=np.float64)
    prior = make_prior(x, K) if prior is None else prior
    shift = x.mean(axis=0)  # centre, so the expanded quadratic form loses no precision
    x = x - shift
    prior = GMMPrior(prior.alpha0, prior.beta0, prior.nu0, prior.m0 - shift, prior.W0)
    q = quadratic_features(x)
    map_points = None
    if classes is None and init == "prior":
        D = x.shape[1]
        state = sample_parameters(prior, np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D)), rng)
    else:
        if classes is None:
            classes, map_prob, map_points = start_chain(x, K, rng, init, align_to)
            if map_bias and map_prob is not None:
                bias = map_prob if bias is None else bias * map_prob
        state = sample_parameters(prior, *sufficient_stats(classes, K, x, q), rng)
    history = {"log_joint": []}
    if labels is not None:
        history.update(acc=[], nmi=[], ari=[], sweep_acc=[])
    sweeps = progress(range(n_sweeps)) if progress else range(n_sweeps)
    log_bias = 0.0 if bias is None else np.log(np.maximum(bias, np.finfo(float).tiny))
    eta = eta_sum = None
    for sweep in sweeps:
        log_p = log_eta_unnormalised(q, x, state) + log_bias
        eta, _ = normalise_log(log_p)
        classes = sample_categorical(eta, rng)
        history["log_joint"].append(float(log_p[np.arange(len(classes)), classes].sum())
                                    + log_prior(prior, state))
        state = sample_parameters(prior, *sufficient_stats(classes, K, x, q), rng)
        if assign == "mean" and sweep >= burn_in:
            eta_sum = eta if eta_sum is None else eta_sum + eta
        if labels is not None:
            reported = {"argmax": eta, "mean": eta if eta_sum is None else eta_sum}.get(assign)
            reported = classes if reported is None else reported.argmax(axis=1)
            for name, value in cluster_scores(labels, reported).items():
                history[name].append(value)
            history["sweep_acc"].append(cluster_acc(labels, eta.argmax(axis=1)))
    if eta is None:
        eta, _ = normalise_log(log_eta_unnormalised(q, x, state) + log_bias)
    if eta_sum is not None:
        eta = eta_sum / (n_sweeps - burn_in)
    if assign in ("argmax", "mean"):
        classes = eta.argmax(axis=1)
    state.mu = state.mu + shift
    point_mu, point_var = point_messages(state, classes)
    return GMMResult(state, classes, eta, point_mu, point_var, history, map_points)
