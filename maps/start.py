"""Where each round's Gibbs chain starts: classes chosen without labels (NumPy, scikit-learn,
umap-learn; no torch).

The GMM's likelihood and the labels disagree in a VAE's latent space, so the chain starts
from a clustering of a manifold map of the latents, as N2D (McConville et al. 2020)
clusters an autoencoder's latents: a 2-D t-SNE map (tsne_classes) or a 10-D UMAP map
(umap_classes), each clustered by a full-covariance GMM fitted by EM. The map's cluster
probabilities then vote in every Gibbs sweep (main.sample_gmm hands both to
gmm_module.GibbsGMM.run).
"""
import numpy as np
from scipy.linalg import solve_triangular


def umap_classes(x, K, rng, n_init=10, dim=10, neighbors=20):
    """Classes (N,) and map probabilities (N, K) from a UMAP embedding of all of x (N, D).

    UMAP (McInnes et al. 2018; umap-learn) embeds every point in `dim` dimensions
    (umap_embedding), and a full-covariance GMM (EM, n_init restarts, the highest
    likelihood kept) clusters the embedding (map_gmm), as N2D (McConville et al. 2020)
    does; the Gibbs chain then runs on x itself. The probabilities are that GMM's
    posterior p(k | embedded point). Seeded from rng, so the map reproduces on one machine
    with one thread count (umap-learn then runs its layout on one thread); with
    OMP_NUM_THREADS=1 and with two threads the same round-0 VAE gave other maps
    (bench/README.md, "The default run in minutes").
    """
    seed = int(rng.integers(2**31 - 1))
    return map_gmm(umap_embedding(x, seed, dim, neighbors), K, seed, n_init)


def umap_embedding(x, seed, dim=10, neighbors=20):
    """UMAP of every point of x (N, D) in `dim` dimensions, neighbors nearest neighbours,
    min_dist 0 (clusters pack tightly), seeded (one thread): (N, dim)."""
    import warnings
    from threadpoolctl import threadpool_limits
    # threadpool_limits restores every OpenMP pool's thread count on exit: numba's pool,
    # started by umap-learn, sets the count of the OpenMP runtime torch shares to the
    # number of cores, which would override a user's OMP_NUM_THREADS for the VAE's training
    with warnings.catch_warnings(), threadpool_limits(limits=None, user_api="openmp"):
        warnings.simplefilter("ignore")  # numba's and umap-learn's notices about threads and seeds
        import umap
        return umap.UMAP(n_components=min(dim, len(x) - 2), n_neighbors=min(neighbors, len(x) - 1),
                         min_dist=0.0, random_state=seed, n_jobs=1).fit_transform(x)


def tsne_embedding(x, seed, iterations=1000):
    """scikit-learn's 2-D t-SNE of x (M, D), PCA-initialised, perplexity 30 (less for tiny
    sets), `iterations` gradient steps (the first 250 with early exaggeration): (M, 2)."""
    from sklearn.manifold import TSNE
    return TSNE(2, init="pca", random_state=seed, max_iter=iterations,
                perplexity=min(30.0, len(x) - 1.0)).fit_transform(x)


def map_gmm(e, K, seed, n_init=10):
    """Classes (M,) and probabilities (M, K) of a full-covariance GMM fitted by EM to the
    embedding e (M, d) (scikit-learn, n_init restarts, the highest likelihood kept)."""
    from sklearn.mixture import GaussianMixture
    fitted = GaussianMixture(K, n_init=n_init, random_state=seed).fit(e)
    return fitted.predict(e), fitted.predict_proba(e)


def tsne_classes(x, K, rng, n_init=10, tsne_max=10000, iterations=1000):
    """Classes (N,), map probabilities (N, K) and the map (N, 2) from a 2-D t-SNE map of x (N, D).

    The map is clustered by a full-covariance GMM (EM, n_init restarts, the highest
    likelihood kept), as N2D (McConville et al. 2020) clusters a manifold embedding of
    auto-encoder latents; the Gibbs chain then runs on x itself. The probabilities are that
    GMM's posterior p(k | map point). Above tsne_max points the map is made of a random
    subset of tsne_max points; every other point joins the class whose Gaussian (fitted in
    x to the subset's classes) gives it the highest density, as t-SNE cannot place new
    points, its map probabilities are uniform (1/K) (the map says nothing about it) and
    its row of the map is NaN. iterations: t-SNE's gradient steps, the first 250 of them
    with early exaggeration (scikit-learn's max_iter, at least 250; bench/analyse.py maps
    tries fewer than the default's 1,000).
    """
    seed = int(rng.integers(2**31 - 1))
    subset = (np.sort(rng.choice(len(x), tsne_max, replace=False)) if len(x) > tsne_max
              else np.arange(len(x)))
    e = tsne_embedding(x[subset], seed, iterations)
    sub_classes, sub_prob = map_gmm(e, K, seed, n_init)
    prob = np.full((len(x), K), 1.0 / K)
    prob[subset] = sub_prob
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


START_MAPS = ("tsne", "umap", "kmeans")  # the starts start_chain makes; "prior" is GibbsGMM.run's own


def start_chain(x, K, rng, init, align_to=None, n_init=10):
    """Classes (N,) a new chain starts from, chosen without labels, the map's probabilities
    (N, K) (None unless init is 'umap' or 'tsne') and its points (N, 2) (only for 'tsne').

    'umap': umap_classes (a GMM of a 10-D UMAP map of all of x), with its probabilities.
    'tsne': tsne_classes (a GMM of a 2-D t-SNE map of a 10,000-point subset of x).
    'kmeans': k-means++ with n_init restarts, the lowest inertia kept.
    x (N, D) is centred first, as the Gibbs chain centres it (none of the maps depends on
    where the origin lies). With align_to (N,) the clusters are renamed to agree with it
    (class_renaming), the columns of the probabilities with them; only cluster names change.
    Any other init raises ValueError.
    """
    if init not in START_MAPS:
        raise ValueError(f"unknown start {init!r}: use one of {', '.join(START_MAPS)}")
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    map_prob = map_points = None
    if init == "tsne":
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
