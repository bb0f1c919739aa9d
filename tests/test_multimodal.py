"""MLDA and MM: hand-checkable cases, message shapes and normalisation, recovery."""
import numpy as np
from sklearn.metrics import adjusted_rand_score

import tool
from serket import data, markov as mm, mlda as ml
from helpers import run_main


def synthetic_documents(rng, D=300, L=3, sizes=(20, 30), tokens=(50, 80)):
    labels = np.arange(D) % L
    counts = []
    for W, n in zip(sizes, tokens):
        phi = rng.dirichlet(np.full(W, 0.2), size=L)
        counts.append(np.stack([rng.multinomial(n, phi[c]) for c in labels]))
    return counts, labels


def test_pseudo_counts_round_weighted_probabilities():
    prob = np.array([[0.5, 0.25, 0.25], [0.004, 0.996, 0.0]])
    np.testing.assert_array_equal(ml.pseudo_counts(prob, 200), [[100, 50, 50], [1, 199, 0]])


def test_token_classes_conserve_counts_and_follow_one_hot_probabilities():
    rng = np.random.default_rng(0)
    counts = np.array([[3, 0, 2], [0, 4, 1]])
    theta = np.array([[1.0, 0.0], [0.0, 1.0]])  # document 0 is all class 0, document 1 class 1
    n_dl, n_lw = ml.sample_token_classes(counts, theta, np.full((2, 3), 1 / 3), rng)
    np.testing.assert_array_equal(n_dl, [[5, 0], [0, 5]])
    np.testing.assert_array_equal(n_lw, [[3, 0, 2], [0, 4, 1]])


def test_mlda_recovers_classes_from_two_modalities():
    rng = np.random.default_rng(1)
    counts, labels = synthetic_documents(rng)
    res = ml.fit_mlda(counts, 3, 50, rng, score=lambda c: tool.cluster_scores(labels, c))
    assert adjusted_rand_score(labels, res.classes) > 0.95
    assert res.history["acc"][-1] > 0.97
    assert res.class_prob.shape == (300, 3) and np.allclose(res.class_prob.sum(1), 1)
    for m, c in enumerate(counts):
        pred = res.predict_words(m)
        assert pred.shape == c.shape and np.allclose(pred.sum(1), 1)
    assert res.history["log_lik"][-1] > res.history["log_lik"][0]


def test_mlda_bias_moves_class_probabilities():
    rng = np.random.default_rng(2)
    counts = [np.ones((4, 5), dtype=int)]  # documents that say nothing about their class
    bias = np.tile([0.97, 0.01, 0.01, 0.01], (4, 1))
    res = ml.fit_mlda(counts, 4, 20, rng, bias=bias)
    assert np.all(res.classes == 0)


def test_transition_counts_and_prediction_by_hand():
    np.testing.assert_array_equal(mm.transition_counts(np.array([0, 1, 1, 0]), 2), [[0, 1], [1, 1]])
    A = np.array([[0.9, 0.1], [0.2, 0.8]])
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(mm.one_step_prediction(p, A), [[0.5, 0.5], [0.9, 0.1]])


def test_mm_recovers_a_known_transition_matrix():
    rng = np.random.default_rng(3)
    L, T = 4, 4000
    A_true = np.full((L, L), 0.05) + np.roll(np.eye(L), 1, axis=1) * 0.8  # mostly k -> k + 1
    s = [0]
    for _ in range(T - 1):
        s.append(rng.choice(L, p=A_true[s[-1]]))
    s = np.array(s)
    class_prob = np.full((T, L), 0.1 / (L - 1))
    class_prob[np.arange(T), s] = 0.9  # noisy observations of the states
    res = mm.fit_markov(class_prob, 30, rng, score=lambda c: tool.cluster_scores(s, c))
    np.testing.assert_allclose(res.A, A_true, atol=0.06)
    assert res.history["acc"][-1] > 0.9
    assert res.prediction.shape == (T, L) and np.allclose(res.prediction.sum(1), 1)
    assert np.allclose(res.B.sum(1), 1) and np.all(np.diag(res.B) > 0.8)


def test_reseed_splits_the_state_two_predecessors_feed():
    # states 0 -> 1 -> 2 -> 1 -> 0 ...: state 1 follows both 0 and 2; state 3 is empty
    states = np.array([0, 1, 2, 1] * 5)
    out = mm.reseed_small_states(states.copy(), 4)
    assert set(out) == {0, 1, 2, 3}
    moved = np.nonzero(out != states)[0]
    assert np.all(states[moved] == 1) and len(moved) == 5
    assert len(set(states[moved - 1])) == 1  # the moved steps all follow the same state
    full = np.array([0, 1, 2, 3] * 5)
    np.testing.assert_array_equal(mm.reseed_small_states(full.copy(), 4), full)


def test_mm_tells_apart_two_states_the_module_below_merged():
    """A cycle 0 -> 1 -> 2 -> 3 -> 4 -> 0 seen through classes that merge states 1 and 3
    (class 4 unused): the MM still finds five states and the whole cycle."""
    rng = np.random.default_rng(4)
    L, T = 5, 1000
    s = np.arange(T) % L
    seen = np.array([0, 1, 2, 1, 3])[s]
    class_prob = np.full((T, L), 0.02)
    class_prob[np.arange(T), seen] = 0.92
    res = mm.fit_markov(class_prob, 40, rng, score=lambda c: tool.cluster_scores(s, c))
    assert res.history["acc"][-1] > 0.99
    steps = [res.A[res.states[t]].argmax() == res.states[t + 1] for t in range(L)]
    assert all(steps)
    assert tool.cluster_acc(s[1:], res.prediction[1:].argmax(1)) > 0.99


def test_bundled_pairs_are_ordered_and_agree(tiny_mnist):
    from sklearn.datasets import load_digits
    images, counts, labels = data.load_digit_pairs(tiny_mnist, n_per_class=20, log=lambda s: None)
    assert images.shape == (200, 784) and counts.shape == (200, 64)
    np.testing.assert_array_equal(labels, np.arange(200) % 10)
    digits = load_digits()
    rows = {tuple(r): t for r, t in zip(digits.data.astype(int), digits.target)}
    assert all(rows[tuple(c)] == lab for c, lab in zip(counts, labels))
    assert counts.min() >= 0 and counts.max() <= 16


def serket_folder(tmp_path, tiny_mnist, n_per_class=20):
    images, counts, labels = data.load_digit_pairs(tiny_mnist, n_per_class=n_per_class, log=lambda s: None)
    folder = tmp_path / "serket"
    folder.mkdir()
    np.savetxt(folder / "data1.txt", images.numpy(), fmt="%.4f")
    np.savetxt(folder / "data2.txt", counts, fmt="%d")
    np.savetxt(folder / "category.txt", labels, fmt="%d")
    return folder, labels


def test_serket_files_load(tmp_path, tiny_mnist):
    folder, labels = serket_folder(tmp_path, tiny_mnist)
    images, counts, got = data.load_serket_files(str(folder))
    assert images.shape == (200, 784) and counts.shape == (200, 64) and counts.dtype == np.int64
    np.testing.assert_array_equal(got, labels)
    (folder / "data2.txt").write_text("1 2\n")
    import pytest
    with pytest.raises(tool.DataError, match="expected 200 rows"):
        data.load_serket_files(str(folder))


def test_smoke_run_of_the_whole_multimodal_model(tmp_path, tiny_mnist):
    folder, _ = serket_folder(tmp_path, tiny_mnist)
    args = [f"--serket_dir={folder}", "--model=vae_gmm_mlda_mm", "--mutual_iteration=2", "--vae_epochs=2",
            "--mutual_epochs=2", "--gmm_iter=5", "--batch_size=50", "--hidden_dims=32",
            "--latent_dim=4", "--tsne_points=0", "--sample_num=4", "--device=cpu", "--gmm_init=kmeans", "--dir_name=mm"]
    proc = run_main(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = tmp_path / "model" / "mm"
    header = (d / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == ["round", "elbo", "acc", "nmi", "ari", "mlda_acc", "mlda_nmi", "mlda_ari",
                      "mm_acc", "mm_nmi", "mm_ari", "seconds"]
    for it in (0, 1):
        prob = np.load(d / "module003_mlda" / f"class_prob_{it}.npy")
        assert prob.shape == (200, 10) and np.allclose(prob.sum(1), 1)
        msg = np.load(d / "module003_mlda" / f"gmm_message_{it}.npy")
        assert msg.shape == (200, 10) and np.allclose(msg.sum(1), 1)
        A = np.load(d / "module004_mm" / f"transition_{it}.npy")
        assert A.shape == (10, 10) and np.allclose(A.sum(1), 1)
        for name in ("acc", "log_lik", "class", "mlda_message"):
            assert (d / "module004_mm" / f"{name}_{it}.npy").is_file()
        assert len(np.load(d / "module003_mlda" / f"log_lik_{it}.npy")) == 5
    again = run_main(tmp_path, *args[:-1], "--dir_name=mm2", "--mutual_iteration=1")
    assert again.returncode == 0, again.stderr[-3000:]
    more = run_main(tmp_path, *args[:-1], "--dir_name=mm2", "--resume=True")
    assert more.returncode == 0, more.stderr[-3000:]
    strip = lambda text: [line.rsplit(",", 1)[0] for line in text.splitlines()]  # noqa: E731
    assert strip((tmp_path / "model/mm2/metrics.csv").read_text()) == strip((d / "metrics.csv").read_text())
