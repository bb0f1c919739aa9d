"""The plots of a run folder's graph/: ELBO per epoch, scores per sweep and per round, and
the latents' t-SNE and PCA maps (drawn by tool.embed_2d and tool.plot_latent) of every round.

The rule: this file draws the training curves and decides which figures a run saves;
tool.py draws the figures of latents and clusters that a researcher also calls by hand.
Plot functions return a matplotlib.figure.Figure; plot_round and plot_latents save them.
"""
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import tool
from run_folder import files


def plot_elbo(curves, names=None):
    """ELBO per epoch of every round so far; curves: {round: [elbo per epoch]}; names: legend."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    colors = colormaps["viridis"](np.linspace(0, 0.9, max(len(curves), 1)))
    for color, (it, elbo) in zip(colors, sorted(curves.items())):
        name = (names or {}).get(it, f"round {it}" + (" (prior N(0, I))" if it == 0 else " (GMM prior)"))
        ax.plot(np.arange(1, len(elbo) + 1), elbo, color="tab:red" if it == 0 else color, label=name)
    ax.set_xlabel("VAE epoch")
    ax.set_ylabel("ELBO per image (nats)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_score_lines(x, scores, marker):
    """Figure and axes with ACC, NMI and ARI (scores: {'acc': values, ...}) against integer x.

    The x axis spans x with integer ticks, so a single value still gets a tick.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name in ("acc", "nmi", "ari"):
        ax.plot(x, scores[name], marker=marker, label=name.upper())
    ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.legend()
    ax.grid(alpha=0.3)
    return fig, ax


def plot_acc(history, it, xlabel="Gibbs sweep"):
    """ACC (and NMI, ARI) per Gibbs sweep of one round (or per epoch of the GMVAE).

    Up to 20 sweeps a marker shows every value, so a round of one sweep (the default) is a
    point, not an invisible line of length zero.
    """
    n = len(history["acc"])
    fig, ax = plot_score_lines(np.arange(1, n + 1), history, "o" if n <= 20 else None)
    if "sweep_acc" in history:  # a chain reporting averaged probabilities: each sweep alone too
        ax.plot(np.arange(1, n + 1), history["sweep_acc"], ":", color="grey", label="ACC of the sweep alone")
        ax.legend()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("score")
    ax.set_ylim(0, 1)
    ax.set_title(f"round {it}: final ACC {history['acc'][-1]:.3f}")
    fig.tight_layout()
    return fig


def plot_rounds(rows):
    """ACC, NMI and ARI of every round so far; rows: metrics.csv's rows (dicts), round 0 first.

    Round 0 is the VAE alone, then the GMM (the two-stage baseline); the later rounds are
    mutual learning, so the curve shows what it adds. The y axis fits the scores.
    """
    rounds = [row["round"] for row in rows]
    fig, ax = plot_score_lines(rounds, {k: [row[k] for row in rows] for k in ("acc", "nmi", "ari")}, "o")
    ax.set_xlabel("round (0: VAE, then GMM; later: mutual learning)")
    ax.set_ylabel("score after the round's last sweep")
    ax.set_title(f"ACC {rows[0]['acc']:.3f} in round {rounds[0]}"
                 + (f", {rows[-1]['acc']:.3f} in round {rounds[-1]}" if len(rows) > 1 else ""))
    fig.tight_layout()
    return fig


def plot_round(dir_name, it, z, labels, history, elbo_curves, cfg, rows, map_points=None):
    """ELBO curves, ACC per sweep (history) and per round (rows: metrics so far), t-SNE and
    PCA of round it's latents z (N, D); map_points: see plot_latents."""
    files.save_figure(f"{dir_name}/graph/vae_loss_{it}.png", plot_elbo(elbo_curves))
    if labels is not None:
        files.save_figure(f"{dir_name}/graph/acc_{it}.png", plot_acc(history, it))
        files.save_figure(f"{dir_name}/graph/scores.png", plot_rounds(rows))
    plot_latents(dir_name, it, z, labels, cfg, map_points)


def plot_latents(dir_name, it, z, labels, cfg, map_points=None):
    """graph/z_pca_{it}.png (all latents) and z_tsne_{it}.png (tsne_points of them).

    map_points (N, 2): the t-SNE map the round's GMM started from (NaN for latents left out
    of it); when given, the plot shows tsne_points of its points instead of mapping again."""
    pick = np.random.default_rng(cfg["seed"]).permutation(len(z))
    for method, count in (("pca", len(z)), ("tsne", cfg["tsne_points"])):
        if count == 0:
            continue
        if method == "tsne" and map_points is not None:
            sel = np.sort(pick[np.isfinite(map_points[pick]).all(axis=1)][:count])
            z2, what = map_points[sel], f"the GMM's t-SNE map: {len(sel)} latents"
        else:
            sel = np.sort(pick[:count])
            z2, what = tool.embed_2d(z[sel], method, cfg["seed"]), f"{method.upper()} of {len(sel)} latents"
        files.save_figure(f"{dir_name}/graph/z_{method}_{it}.png",
                          tool.plot_latent(z2, None if labels is None else labels[sel],
                                           f"round {it}: {what}, coloured by label"))
