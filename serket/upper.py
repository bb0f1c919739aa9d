"""Serket's modules above the GMM (the multimodal models): one round of them, and the
messages they send down.

MLDA: modality 0 is the GMM's class probabilities as pseudo-counts, modality 1 the second
modality's counts; it sends the GMM its prediction of each point's GMM class. MM: learns
the transitions of its states (which see the MLDA's classes) along the sequence and sends
the MLDA its one-step predictions.
"""
import tool
from serket import markov, mlda as mlda_module

MLDA_WEIGHT = 200.0  # pseudo-counts per data point made of the GMM's class probabilities


def update_upper_modules(gmm, counts2, labels, cfg, rng, mlda_bias, bar):
    """One round of the MLDA (and MM) on the GMM's result gmm.

    mlda_bias: the MM's message of the last round (None before); bar(range, name) wraps
    the sweeps in a progress bar. Returns ({name: result}, gmm_bias, mlda_bias): the
    results to save and score, and the messages the MLDA sends the GMM and the MM the MLDA
    (the given mlda_bias when there is no MM).
    """
    score = None if labels is None else (lambda classes: tool.cluster_scores(labels, classes))  # noqa: E731
    mlda = mlda_module.fit_mlda(
        [mlda_module.pseudo_counts(gmm.eta, MLDA_WEIGHT), counts2], cfg["K"], cfg["gmm_iter"],
        rng, bias=mlda_bias, score=score,
        progress=lambda r: bar(r, "MLDA"), theta_init=gmm.eta)
    upper = {"mlda": mlda}
    if cfg["model"] == "vae_gmm_mlda_mm":
        upper["mm"] = markov.fit_markov(mlda.class_prob, cfg["gmm_iter"], rng, score=score,
                                        progress=lambda r: bar(r, "MM"))
        mlda_bias = upper["mm"].prediction
    return upper, mlda.predict_words(0), mlda_bias
