"""VAE+GMM mutual learning (Neuro-SERKET, arXiv 1910.08918): train, save, decode.

    python main.py                          # the default run on the first 10,000 MNIST images
    python main.py --mutual_iteration=5     # any setting below can be overridden this way

Everything a run produces goes to model/<dir_name>/ (see README.md).
"""
# ---------------------------------------------------------------------------- settings
mutual_iteration = 6       # rounds: round 0 trains the VAE with prior N(0, I), later rounds with the GMM's
dir_name = "debug"         # outputs go to model/<dir_name>/
dataset = "mnist"          # "mnist", "fashionmnist", "kmnist", "qmnist", "emnist" (digits) or "usps" (16 x 16)
data_root = "./data"       # folder of the dataset in torchvision's layout (downloaded there when missing)
n_data = 10000             # use the first n_data images of the dataset (training set, then test set)
data_path = ""             # your own N x P data in [0, 1] (.npy, .npz or text) instead of MNIST
label_path = ""            # labels of data_path (N values), used only to score the clustering
latent_dim = 12            # D, size of the latent x_d shared by VAE and GMM
hidden_dims = (256,)       # hidden layer sizes of the encoder (the decoder mirrors them)
architecture = "conv"      # VAE networks: "conv" (two conv layers, then hidden_dims[-1]; square images) or "dense"
vae_epochs = 0             # VAE epochs of round 0; 0: those of 750,000 images, 15 to 75 (75 of 10,000, 15 of 70,000)
mutual_epochs = 0          # VAE epochs of each later round (warm-started); 0: vae_epochs / 5, at least 1
batch_size = 100           # VAE mini-batch size
lr = 1e-3                  # Adam learning rate
alpha = 1.0                # weight of the KL term, the same in every round
send = "mean"              # latent the encoder sends to the GMM: "mean" or "sample"
K = 10                     # number of GMM clusters
gmm_iter = 100             # Gibbs sweeps per round
gmm_burn_in = 50           # gmm_assign="mean": sweeps left out of the average (burn-in; at most half of gmm_iter)
gmm_init = "auto"          # start of each chain: "auto" ("tsne" up to 10,000 points, "umap" above), "tsne" (GMM of a
                           # t-SNE map of <= 10,000 points), "umap" (of a UMAP map), "kmeans", "random" or "prior"
gmm_alpha0 = 1e5           # Dirichlet concentration of the mixing weights (1e5 holds them near 1/K)
gmm_beta0 = 1.0            # prior precision scale of the cluster means
gmm_nu0 = 100.0            # Wishart degrees of freedom (pseudo-points of the covariances); 0 means latent_dim + 2
gmm_W0 = 0.0               # Wishart scale; 0 adapts to the latents (see gmm_module), s > 0 means s * I
gmm_map_bias = True        # "umap" or "tsne": the map's cluster probabilities multiply the sweeps' assignment probabilities
gmm_assign = "mean"        # classes the GMM reports and sends: argmax of the probabilities averaged over the sweeps
                           # after burn-in ("mean"), of the last sweep's ("argmax"), or the last sample ("sample")
warm_start_vae = True      # keep training the same VAE across rounds (False: a new VAE each round)
warm_start_gmm = False     # True: start each round's chain from the last round's assignments; False: from gmm_init
prior_var_floor = 1e-3     # lower bound on the prior variances the GMM sends to the VAE
sample_num = 16            # images decoded per cluster at the end
tsne_points = 3000         # points in the t-SNE plots (0: no t-SNE)
seed = 1                   # seeds torch, the GMM's numpy Generator, shuffling and plots
device = "auto"            # "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"
resume = False             # continue the run in model/<dir_name> after its last complete round
generate = ""              # draw from the saved run in model/<dir_name> instead of training:
                           # "clusters", "prior" or "transit" (PNG into recon/)
generate_round = -1        # round whose VAE and GMM generate (-1: the last saved)
transit_from = 0           # "transit": index of the first image ...
transit_to = 1             # ... and of the last; decoded along the line between their latents
model = "vae_gmm"          # "vae_gmm", Serket's "vae_gmm_mlda" or "vae_gmm_mlda_mm", or the "gmvae" baseline
w_dim = 10                 # gmvae: size of the latent w that sets the K Gaussians over z
serket_dir = ""            # multimodal data from Serket's data1.txt, data2.txt, category.txt
mlda_weight = 200.0        # pseudo-counts per data point made of the GMM's class probabilities
mlda_iter = 100            # MLDA Gibbs sweeps per round
mlda_alpha = 1.0           # MLDA's Dirichlet prior on class proportions
mlda_beta = 1.0            # MLDA's Dirichlet prior on word distributions
mm_iter = 100              # Markov-model Gibbs sweeps per round
mm_gamma = 1.0             # Dirichlet prior on each row of the transition matrix
original_defects = False   # True: the original code's two bugs and unshuffled batches (its bench row only)
tensorboard = False        # also log losses and scores to model/<dir_name>/tensorboard (needs the tensorboard package)
# -------------------------------------------------------------------------------------
SETTINGS = {k: v for k, v in dict(globals()).items()
            if not k.startswith("_") and isinstance(v, (bool, int, float, str, tuple))}

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import settings  # noqa: E402
from settings import MULTIMODAL, SettingError, pick_device  # noqa: E402,F401


def parse_settings(argv):
    """--name=value overrides of the settings above -> dict (settings.parse_settings)."""
    return settings.parse_settings(argv, SETTINGS)


# ---------------------------------------------------------------------------- the method

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import data  # noqa: E402
import gmm_module  # noqa: E402
import run_dir  # noqa: E402
import tool  # noqa: E402
import vae_module  # noqa: E402
from generate import decode_cluster, decode_from_gmm_param, generate_images  # noqa: E402,F401
from gmvae_run import train_gmvae  # noqa: E402
from run_dir import RunError  # noqa: E402,F401
from upper_modules import update_upper_modules  # noqa: E402


def train_model(mutual_iteration, dir_name, train_loader, all_loader, labels=None, cfg=None,
                resume=False, counts2=None, writer=None):
    """Mutual learning of VAE and GMM for mutual_iteration rounds; outputs into dir_name.

    Each round: train the VAE with every image's prior (N(0, I) in round 0), send its latents
    x_d to the GMM, sample the GMM, and take each point's cluster Gaussian as its next prior.
    With resume=True, continues after the last round recorded in dir_name/metrics.csv,
    restoring the networks, the GMM and every random generator, so the result equals that
    of an uninterrupted run. counts2: (N, W) counts of the second modality, for the
    multimodal models (cfg["model"]). writer: an optional TensorBoard SummaryWriter.
    Returns the run_dir.RunState after the last round (rows: the rows of metrics.csv).
    """
    device, n = all_loader.data.device, len(all_loader.data)
    cfg = {**settings.resolve_epochs(dict(SETTINGS if cfg is None else cfg), n), "x_dim": all_loader.data.shape[1]}
    run = (run_dir.load_run(dir_name, cfg, n, device, train_loader) if resume
           else run_dir.new_run(cfg, n, device))
    if not resume:
        run_dir.save_config(dir_name, cfg)
    for it in range(len(run.rows), mutual_iteration):
        start = time.time()
        bar = lambda r, name: tqdm(r, desc=f"round {it} {name}", leave=False, dynamic_ncols=True)  # noqa: E731
        elbo, z = train_vae(run, cfg, it, train_loader, all_loader, bar)
        gmm = gmm_module.fit_gibbs(
            z, cfg["K"], cfg["gmm_iter"], run.rng, gmm_prior(cfg, z), cfg["gmm_init"],
            run.classes if cfg["warm_start_gmm"] else None, labels, progress=lambda r: bar(r, "GMM sweeps"),
            bias=run.gmm_bias, align_to=run.classes, assign=cfg["gmm_assign"], map_bias=cfg["gmm_map_bias"],
            burn_in=settings.burn_in(cfg))
        run.classes, run.gmm, run.z = gmm.classes, gmm.state, z
        run.prior_mu, run.prior_var = vae_module.prior_from_gmm(gmm.point_mu, gmm.point_var,
                                                                cfg["prior_var_floor"], device)
        row = {"round": it, "elbo": elbo, **run_dir.last_scores(gmm.history)}
        upper = {}
        if cfg["model"] in MULTIMODAL:
            upper, run.gmm_bias, run.mlda_bias = update_upper_modules(
                gmm, counts2, labels, cfg, run.rng, run.mlda_bias, lambda r, name: bar(r, f"{name} sweeps"))
        for name, result in upper.items():
            row.update(run_dir.last_scores(result.history, prefix=f"{name}_"))
        row["seconds"] = round(time.time() - start, 1)
        save_round(dir_name, it, run, row, train_loader, gmm, upper, labels, cfg, writer)
        print(run_dir.format_row(row, mutual_iteration), flush=True)
    return run


def train_vae(run, cfg, it, train_loader, all_loader, bar):
    """Round it's VAE: trained against run's priors (a new VAE in round 0, or every round
    without warm_start_vae). Returns its ELBO per image and the latents it sends (N, D)."""
    device = all_loader.data.device
    if run.model is None or not cfg["warm_start_vae"]:
        torch.manual_seed(cfg["seed"] + 7919 * it)
        run.model = run_dir.new_vae(cfg, device)
        run.optimizer = torch.optim.Adam(run.model.parameters(), lr=cfg["lr"])
    run.elbo_curves[it] = vae_module.train(
        run.model, train_loader, run.prior_mu, run.prior_var, settings.round_epochs(cfg, it), run.optimizer,
        cfg["alpha"], generator=run.noise, progress=lambda r: bar(r, "VAE epochs"),
        original_defects=cfg["original_defects"] and it > 0)
    eval_gen = torch.Generator(device=device)
    elbo = vae_module.evaluate_elbo(run.model, all_loader, run.prior_mu, run.prior_var,
                                    eval_gen.manual_seed(cfg["seed"]))
    z = vae_module.send_all_z(run.model, all_loader, cfg["send"] == "sample", eval_gen.manual_seed(cfg["seed"] + 1))
    return elbo, z


def gmm_prior(cfg, z):
    """The GMM's Normal-Wishart-Dirichlet prior from the settings, adapted to latents z (N, D)."""
    return gmm_module.make_prior(z, cfg["K"], cfg["gmm_alpha0"], cfg["gmm_beta0"],
                                 cfg["gmm_nu0"] or None, cfg["gmm_W0"] or None)


def save_round(dir_name, it, run, row, train_loader, gmm, upper, labels, cfg, writer):
    """Round it's checkpoint, arrays and plots, then its row of metrics.csv (last: a round is
    complete once its row is there), then TensorBoard."""
    run_dir.save_round(dir_name, it, run, train_loader, gmm)
    run_dir.save_upper_modules(dir_name, it, upper)
    run.rows.append(row)
    run_dir.plot_round(dir_name, it, run.z, labels, gmm.history, run.elbo_curves, cfg, run.rows, gmm.map_points)
    run_dir.save_metrics(dir_name, run.rows)
    epochs_before = sum(len(run.elbo_curves[i]) for i in range(it))
    run_dir.log_round(writer, it, row, {"vae/elbo_per_epoch": (run.elbo_curves[it], epochs_before),
                                        **{f"{name}/{k}_per_sweep": (v, it * len(v))
                                           for name, res in {"gmm": gmm, **upper}.items()
                                           for k, v in res.history.items()}})


def make_loaders(images, cfg, device):
    """train_loader (shuffled mini-batches) and all_loader (all data, in order), on device."""
    data = images.to(device)
    shuffle_gen = torch.Generator().manual_seed(cfg["seed"])
    train_loader = tool.IndexedBatches(data, cfg["batch_size"], shuffle=not cfg["original_defects"],
                                       generator=shuffle_gen)
    all_loader = tool.IndexedBatches(data, 10000, shuffle=False)
    return train_loader, all_loader


def load_data(cfg):
    """Images, labels (or None) and the second modality's counts (None but for MULTIMODAL).

    vae_gmm and gmvae: the dataset (MNIST by default) or the user's data_path; the multimodal
    models: the bundled MNIST and digits pairs, or Serket's files in serket_dir. Checks there
    are at least K points.
    """
    if cfg["label_path"] and not cfg["data_path"]:
        raise SettingError("setting label_path needs data_path: MNIST brings its own labels")
    counts2 = None
    try:
        if cfg["model"] in MULTIMODAL and cfg["serket_dir"]:
            images, counts2, labels = data.load_serket_files(cfg["serket_dir"])
            what = f"{len(images)} pairs from {cfg['serket_dir']}"
        elif cfg["model"] in MULTIMODAL:
            images, counts2, labels = data.load_digit_pairs(cfg["data_root"])
            what = f"{len(images)} pairs of an MNIST image and an sklearn digits sample"
        elif cfg["data_path"]:
            images, labels = data.load_user_data(cfg["data_path"], cfg["label_path"])
            what = f"{len(images)} points of {images.shape[1]} values from {cfg['data_path']}"
        else:
            images, labels = data.load_dataset(cfg["dataset"], cfg["data_root"], cfg["n_data"])
            what = f"{len(images)} {data.DATASETS[cfg['dataset']][0]} images"
    except data.DataError as err:
        raise SettingError(str(err)) from None
    if len(images) < cfg["K"]:
        raise SettingError(f"setting K={cfg['K']} is more than the {what}: use K <= {len(images)}")
    print(what + ("" if labels is not None else " (no labels: ACC, NMI and ARI are left out)"),
          flush=True)
    return images, labels, counts2


# ---------------------------------------------------------------------------- command line

def main(argv):
    cfg = parse_settings(argv)
    device = pick_device(cfg["device"])
    model_dir = os.path.join("model", cfg["dir_name"])
    if cfg["generate"]:
        return generate_images(cfg, model_dir, device)
    run_dir.check_model_dir(model_dir, cfg["resume"])
    writer_class = settings.tensorboard_writer(cfg)
    images, labels, counts2 = load_data(cfg)
    cfg["batch_size"] = min(cfg["batch_size"], len(images))
    print(f"device {device}, outputs in {model_dir}/", flush=True)
    train_loader, all_loader = make_loaders(images, cfg, device)
    writer = writer_class(f"{model_dir}/tensorboard") if writer_class else None
    try:
        if cfg["model"] == "gmvae":
            return train_gmvae(model_dir, train_loader, all_loader, labels, cfg, writer)
        run = train_model(cfg["mutual_iteration"], model_dir, train_loader, all_loader, labels, cfg,
                          resume=cfg["resume"], counts2=counts2, writer=writer)
    finally:
        if writer is not None:
            writer.close()
    for k in range(cfg["K"]):
        decode_cluster(run.model, run.gmm, run.z, run.classes, k, cfg["sample_num"], cfg["seed"],
                       len(run.rows) - 1, model_dir, device)
    if tool.image_side(images.shape[1]):
        print(f"decoded {cfg['sample_num']} samples of each cluster into {model_dir}/recon/", flush=True)
    else:
        print(f"P={images.shape[1]} is not a square number of pixels: no image grids were drawn", flush=True)


def interrupted_message(argv):
    """One line saying what a stopped run kept and how to continue it."""
    try:
        cfg = parse_settings(argv)
        model_dir = os.path.join("model", cfg["dir_name"])
        done = len(run_dir.read_metrics(model_dir))
    except (SettingError, RunError):
        return "main.py: interrupted"
    if done == 0:
        return f"main.py: interrupted before round 0 was complete; nothing of it was kept in {model_dir}"
    return (f"main.py: interrupted; rounds 0-{done - 1} are saved in {model_dir}; continue with "
            f"python main.py --dir_name={cfg['dir_name']} --resume=True (and the same settings)")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        main(sys.argv[1:])
    except (SettingError, RunError) as err:
        sys.exit(f"main.py: {err}")
    except KeyboardInterrupt:
        sys.exit(interrupted_message(sys.argv[1:]))
    except OSError as err:  # an unwritable folder, a full disk
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        sys.exit(f"main.py: cannot write{where}: {err.strerror or err}; check the folder's "
                 "permissions and free space")
