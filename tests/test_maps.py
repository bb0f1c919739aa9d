"""The maps that start each round's chain (maps.start): t-SNE, UMAP and k-means starts on
synthetic blobs, their probabilities and renaming, and their vote in the chain."""
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score

import gmm_module as gm
from maps import start as ms
from test_gmm import blobs, fit


def test_tsne_start_recovers_blobs():
    rng = np.random.default_rng(12)
    x, y = blobs(rng, n_per=100, K=4)
    res = fit(x, 4, 10, rng, start="tsne", labels=y)
    assert adjusted_rand_score(y, res.classes) > 0.95


def test_umap_start_covers_every_point_recovers_blobs_and_reproduces():
    """The default start: a UMAP map of all points, a GMM on it; seeded, so the same rng
    seed gives the same classes and probabilities."""
    x, y = blobs(np.random.default_rng(21), n_per=100, K=4)
    classes, prob = ms.umap_classes(x, 4, np.random.default_rng(5))
    assert adjusted_rand_score(y, classes) > 0.95
    assert prob.shape == (len(x), 4) and np.allclose(prob.sum(axis=1), 1.0)
    assert not np.any(np.all(prob == 0.25, axis=1))  # every point is in the map
    np.testing.assert_array_equal(prob.argmax(axis=1), classes)
    again = ms.umap_classes(x, 4, np.random.default_rng(5))
    np.testing.assert_array_equal(again[0], classes)
    np.testing.assert_allclose(again[1], prob)
    res = fit(x, 4, 3, np.random.default_rng(6), start="umap", labels=y)
    assert adjusted_rand_score(y, res.classes) > 0.95


def test_gaussian_classes_match_scipy():
    rng = np.random.default_rng(13)
    x_fit, fit_classes = blobs(rng, n_per=50, K=3, D=2, spread=1.5)
    x = rng.standard_normal((40, 2)) * 3
    want = np.stack([np.log(1 / 3) + stats.multivariate_normal(
        x_fit[fit_classes == k].mean(0), np.cov(x_fit[fit_classes == k], rowvar=False)).logpdf(x)
        for k in range(3)], 1).argmax(1)
    np.testing.assert_array_equal(ms.gaussian_classes(x, x_fit, fit_classes, 3), want)


def test_tsne_start_on_a_subset_recovers_blobs():
    rng = np.random.default_rng(14)
    x, y = blobs(rng, n_per=150, K=4)
    classes = ms.tsne_classes(x, 4, rng, tsne_max=200)[0]
    assert adjusted_rand_score(y, classes) > 0.95


def test_class_renaming_finds_the_best_permutation_like_brute_force():
    import itertools
    rng = np.random.default_rng(15)
    for _ in range(20):
        classes, reference = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
        best = max((np.asarray(p)[classes] for p in itertools.permutations(range(4))),
                   key=lambda c: (c == reference).sum())
        aligned = ms.class_renaming(classes, reference, 4)[classes]
        assert (aligned == reference).sum() == (best == reference).sum()
        assert adjusted_rand_score(classes, aligned) == 1.0  # the same partition, renamed


def test_new_start_is_renamed_after_the_last_round():
    rng = np.random.default_rng(16)
    x, y = blobs(rng, n_per=100, K=4)
    last_round = (y + 1) % 4  # the previous round's names for the same four blobs
    res = fit(x, 4, 3, rng, start="kmeans", align_to=last_round)
    assert (res.classes == last_round).mean() > 0.99


def test_tsne_map_probabilities_are_the_maps_posterior():
    rng = np.random.default_rng(17)
    x, _ = blobs(rng, n_per=150, K=4)
    classes, prob, points = ms.tsne_classes(x, 4, rng, tsne_max=200)
    assert prob.shape == (len(x), 4) and np.allclose(prob.sum(axis=1), 1.0)
    mapped = ~np.all(prob == 0.25, axis=1)
    assert mapped.sum() == 200  # the subset in the map; the others' probabilities are uniform
    np.testing.assert_array_equal(prob[mapped].argmax(axis=1), classes[mapped])
    # the map itself: a finite 2-D point for every mapped latent, NaN for the others
    assert points.shape == (len(x), 2)
    np.testing.assert_array_equal(np.isfinite(points).all(axis=1), mapped)


def test_start_chain_gives_the_map_points_of_a_tsne_start_only():
    rng = np.random.default_rng(3)
    x, _ = blobs(rng, n_per=50, K=3)
    points = ms.start_chain(x, 3, rng, "tsne")[2]
    assert points.shape == (len(x), 2) and np.isfinite(points).all()
    assert ms.start_chain(x, 3, rng, "kmeans")[2] is None


@pytest.mark.parametrize("name", ["random", "auto", "prior", ""])
def test_start_chain_rejects_an_unknown_start(name):
    with pytest.raises(ValueError, match="unknown start"):
        ms.start_chain(np.zeros((10, 2)), 2, np.random.default_rng(0), name)
    with pytest.raises(ValueError, match="start must be classes"):
        gm.GibbsGMM(2, None, 1, 0).run(np.random.default_rng(1).standard_normal((10, 2)),
                                       np.random.default_rng(0), "tsne")


def test_map_probabilities_are_renamed_with_the_clusters():
    rng = np.random.default_rng(18)
    x, y = blobs(rng, n_per=100, K=4)
    last_round = (y + 1) % 4
    classes, prob, _ = ms.start_chain(x, 4, rng, "tsne", align_to=last_round)
    assert (classes == last_round).mean() > 0.99
    np.testing.assert_array_equal(prob.argmax(axis=1), classes)
    assert ms.start_chain(x, 4, rng, "kmeans")[1] is None


def test_tsne_map_takes_the_iterations_asked(monkeypatch):
    """tsne_classes asks scikit-learn's TSNE for 1,000 iterations unless told (the default's
    map), and for as many as asked (bench/analyse.py's shorter maps), which still separate blobs."""
    import sklearn.manifold
    asked, real_tsne = [], sklearn.manifold.TSNE

    def recorder(*args, **kwargs):
        asked.append(kwargs["max_iter"])
        return real_tsne(*args, **kwargs)

    monkeypatch.setattr(sklearn.manifold, "TSNE", recorder)
    x, y = blobs(np.random.default_rng(20), n_per=40, K=3)
    ms.tsne_classes(x, 3, np.random.default_rng(1))
    classes = ms.tsne_classes(x, 3, np.random.default_rng(1), iterations=350)[0]
    assert asked == [1000, 350]
    assert len(set(classes)) == 3 and all(len(set(classes[y == k])) == 1 for k in range(3))
