"""Serket's modules above the GMM (the multimodal models): one round of them, and the
messages they send down.

MLDA: modality 0 is the GMM's class probabilities as pseudo-counts, modality 1 the second
modality's counts; it sends the GMM its prediction of each point's GMM class. MM: learns
the transitions of its states (which see the MLDA's classes) along the sequence and sends
the MLDA its one-step predictions.
"""
import mlda_module
import mm_module


def update_upper_modules(gmm, counts2, labels, cfg, rng, mlda_bias, bar):
    """One round of the MLDA (and MM) on the GMM's result gmm.

    mlda_bias: the MM's message of the last round (None before); bar(range, name) wraps
    the sweeps in a progress bar. Returns ({name: result}, gmm_bias, mlda_bias): the
    results to save and score, and the messages the MLDA sends the GMM and the MM the MLDA
    (the given mlda_bias when there is no MM).
    """
    mlda = mlda_module.fit_mlda(
        [mlda_module.pseudo_counts(gmm.eta, cfg["mlda_weight"]), counts2], cfg["K"], cfg["mlda_iter"],
        rng, cfg["mlda_alpha"], cfg["mlda_beta"], bias=mlda_bias, labels=labels,
        progress=lambda r: bar(r, "MLDA"), theta_init=gmm.eta)
    upper = {"mlda": mlda}
    if cfg["model"] == "vae_gmm_mlda_mm":
        upper["mm"] = mm_module.fit_markov(mlda.class_prob, cfg["mm_iter"], rng, cfg["mm_gamma"],
                                           labels=labels, progress=lambda r: bar(r, "MM"))
        mlda_bias = upper["mm"].prediction
    return upper, mlda.predict_words(0), mlda_bias
