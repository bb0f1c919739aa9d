"""VAE+GMM mutual learning (Neuro-SERKET, arXiv 1910.08918): train, save, decode.

    python main.py                          # the default run on the first 10,000 MNIST images
    python main.py --mutual_iteration=5     # any setting below can be overridden this way
    python main.py config/original_code.py  # or by a file of overrides (a recipe), then --name=value

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
hidden_dims = (256,)       # hidden layer sizes of the encoder, mirrored by the decoder ("conv": one size, its dense layer)
architecture = "conv"      # VAE networks: "conv" (two conv layers, then hidden_dims[-1]; square images) or "dense"
vae_epochs = 0             # VAE epochs of round 0; 0: those of 750,000 images, 15 to 75 (75 of 10,000, 15 of 70,000)
mutual_epochs = 0          # VAE epochs of each later round; 0: vae_epochs / 5, at least 1
batch_size = 100           # VAE mini-batch size
warm_start_vae = True      # keep training the same VAE across rounds (False: a new VAE each round)
send = "mean"              # latent the encoder sends to the GMM: "mean" or "sample"
K = 10                     # number of GMM clusters
message = "point"          # the GMM's message, each image's KL prior: "point" (its cluster's Gaussian) or "expected"
                           # (the KL averaged over the GMM's own cluster probabilities, no map's vote; VaDE's)
gmm_iter = 100             # Gibbs sweeps per round (of the GMM, and of the MLDA and MM above it)
gmm_init = "auto"          # start of each chain: "auto" ("tsne" up to 10,000 points, "umap" above), "tsne" (GMM of a
                           # t-SNE map of <= 10,000 points), "umap" (of a UMAP map), "kmeans" or "prior" (the original's)
sample_num = 16            # images decoded per cluster at the end
tsne_points = 3000         # points in the t-SNE plots (0: no t-SNE)
seed = 1                   # seeds torch, the GMM's numpy Generator, shuffling and plots
device = "auto"            # "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"
resume = False             # continue the run in model/<dir_name> after its last complete round
generate = ""              # draw from the saved run in model/<dir_name> instead of training:
                           # "clusters", "prior" or "transit" (PNG into recon/)
generate_round = -1        # round whose VAE and GMM generate (-1: the last saved)
transit = (0, 1)           # "transit": indices of the first and the last image; decoded along the line between
model = "vae_gmm"          # "vae_gmm", Serket's "vae_gmm_mlda" or "vae_gmm_mlda_mm", or the "gmvae" baseline
serket_dir = ""            # multimodal data from Serket's data1.txt, data2.txt, category.txt
original_defects = False   # True: the original code as it ran (its two bugs, unshuffled batches, its GMM prior
                           # and last-sample report; config/original_code.py, its bench row only)
tensorboard = False        # also log losses and scores to model/<dir_name>/tensorboard (needs the tensorboard package)
# -------------------------------------------------------------------------------------
SETTINGS = {k: v for k, v in dict(globals()).items()
            if not k.startswith("_") and isinstance(v, (bool, int, float, str, tuple))}

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from settings import checks  # noqa: E402
from settings.checks import MULTIMODAL, SettingError, pick_device  # noqa: E402,F401


def parse_settings(argv):
    """--name=value overrides of the settings above -> dict (settings.checks.parse_settings)."""
    return checks.parse_settings(argv, SETTINGS)


# ---------------------------------------------------------------------------- the method

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import gmm_module  # noqa: E402
import tool  # noqa: E402
import vae_module  # noqa: E402
from baselines.gmvae_run import train_gmvae  # noqa: E402
from maps.start import start_chain  # noqa: E402
from run_folder import files, plots, state  # noqa: E402
from run_folder.files import RunError  # noqa: E402,F401
from run_folder.generate import generate_images  # noqa: E402
from serket import data as serket_data  # noqa: E402
from serket.upper import update_upper_modules  # noqa: E402
from tool import decode_cluster, decode_from_gmm_param  # noqa: E402,F401


def train_model(mutual_iteration, dir_name, train_loader, all_loader, labels=None, cfg=None,
                resume=False, counts2=None, writer=None):
    """Mutual learning of VAE and GMM for mutual_iteration rounds; outputs into dir_name.

    Each round: train the VAE with every image's prior (N(0, I) in round 0); map its latents
    x_d and cluster the map without labels (start_map); run the GMM's Gibbs chain on x_d from
    that start, the map voting in every sweep; send each point its cluster's Gaussian, the
    VAE's prior in the next round.
    With resume=True, continues after the last round recorded in dir_name/metrics.csv,
    restoring the networks, the GMM and every random generator, so the result equals that
    of an uninterrupted run on the same kind of device and thread count (on any other it
    goes on, as another seed would). counts2: (N, W) counts of the second modality, for the
    multimodal models (cfg["model"]). writer: an optional TensorBoard SummaryWriter.
    Returns the run_folder.state.RunState after the last round (rows: the rows of metrics.csv).
    """
    device, n = all_loader.data.device, len(all_loader.data)
    cfg = checks.resolve_epochs(dict(SETTINGS if cfg is None else cfg), n)
    cfg = {**cfg, "x_dim": all_loader.data.shape[1], **state.run_record(cfg, n, device)}
    run = (state.load_run(dir_name, cfg, n, device, train_loader) if resume
           else state.new_run(cfg, n, device))
    if not resume:
        files.save_config(dir_name, cfg)
    for it in range(len(run.rows), mutual_iteration):
        began = time.time()
        bar = lambda r, name: tqdm(r, desc=f"round {it} {name}", leave=False, dynamic_ncols=True)  # noqa: E731
        elbo, z = train_vae(run, cfg, it, train_loader, all_loader, bar)         # VAE: latents x_d
        start, map_prob, map_points = start_map(run, cfg, z)                    # map: where the chain starts
        gmm, history = sample_gmm(run, cfg, z, start, map_prob, labels, bar)     # GMM: Gibbs sweeps
        run.classes, run.gmm, run.z = gmm.classes, gmm.state, z
        run.prior_mu, run.prior_var = state.gmm_message(cfg, gmm.state, gmm.classes, z, device)  # message
        row = {"round": it, "elbo": elbo, **files.last_scores(history)}
        upper = {}
        if cfg["model"] in MULTIMODAL:
            upper, run.gmm_bias, run.mlda_bias = update_upper_modules(
                gmm, counts2, labels, cfg, run.rng, run.mlda_bias, lambda r, name: bar(r, f"{name} sweeps"))
        for name, result in upper.items():
            row.update(files.last_scores(result.history, prefix=f"{name}_"))
        row["seconds"] = round(time.time() - began, 1)
        save_round(dir_name, it, run, row, train_loader, gmm, history, upper, labels, cfg, writer, map_points)
        print(files.format_row(row, mutual_iteration), flush=True)
    return run


def train_vae(run, cfg, it, train_loader, all_loader, bar):
    """Round it's VAE: trained against run's priors (a new VAE in round 0, or every round
    without warm_start_vae). Returns its ELBO per image and the latents it sends (N, D)."""
    device = all_loader.data.device
    if run.model is None or not cfg["warm_start_vae"]:
        torch.manual_seed(cfg["seed"] + 7919 * it)
        run.model = files.new_vae(cfg, device)
        run.optimizer = vae_module.new_optimizer(run.model)
    run.elbo_curves[it] = vae_module.train(
        run.model, train_loader, run.prior_mu, run.prior_var, checks.round_epochs(cfg, it), run.optimizer,
        generator=run.noise, progress=lambda r: bar(r, "VAE epochs"),
        original_defects=cfg["original_defects"] and it > 0)
    eval_gen = torch.Generator(device=device)
    elbo = vae_module.evaluate_elbo(run.model, all_loader, run.prior_mu, run.prior_var,
                                    eval_gen.manual_seed(cfg["seed"]))
    z = vae_module.send_all_z(run.model, all_loader, cfg["send"] == "sample", eval_gen.manual_seed(cfg["seed"] + 1))
    return elbo, z


def start_map(run, cfg, z):
    """Where the round's Gibbs chain starts (gmm_init, maps.start.start_chain): the classes
    (N,) of a map of the latents z (N, D), clustered without labels and named as the last
    round's; the map's cluster probabilities (N, K), which vote in every sweep (None for
    k-means); its 2-D points (N, 2) for the plots (t-SNE only). gmm_init="prior" (the
    original code's start): "prior", None, None."""
    if cfg["gmm_init"] == "prior":
        return "prior", None, None
    return start_chain(z, cfg["K"], run.rng, cfg["gmm_init"], align_to=run.classes)


def sample_gmm(run, cfg, z, start, map_prob, labels, bar):
    """Round's Gibbs chain on the latents z (N, D) from start (start_map), with the map's
    vote map_prob and the MLDA's message run.gmm_bias; labels (or None) score every sweep.
    Returns the GMMResult and the history of the sweeps, scores included."""
    gmm = gmm_module.GibbsGMM(cfg["K"], gmm_prior(cfg, z), cfg["gmm_iter"], cfg["gmm_iter"] // 2,
                              report="sample" if cfg["original_defects"] else "mean")
    on_sweep, scores = tool.sweep_scorer(labels) if labels is not None else (None, {})
    result = gmm.run(z, run.rng, start, map_prob=map_prob, bias=run.gmm_bias, on_sweep=on_sweep,
                     progress=lambda r: bar(r, "GMM sweeps"))
    return result, {**result.history, **scores}


def gmm_prior(cfg, z):
    """The GMM's Normal-Wishart-Dirichlet prior (gmm_module.make_prior) for latents z (N, D):
    state.gmm_prior_settings(cfg), PRIOR adapted to the latents' scale or the original's."""
    return gmm_module.make_prior(z, cfg["K"], **state.gmm_prior_settings(cfg))


def save_round(dir_name, it, run, row, train_loader, gmm, history, upper, labels, cfg, writer, map_points=None):
    """Round it's checkpoint, arrays and plots, then its row of metrics.csv (last: a round is
    complete once its row is there), then TensorBoard. history: the GMM's sweeps;
    map_points: the t-SNE map the chain started from (start_map), which the plots reuse."""
    files.save_round(dir_name, it, run, train_loader, gmm, history)
    files.save_upper_modules(dir_name, it, upper)
    run.rows.append(row)
    plots.plot_round(dir_name, it, run.z, labels, history, run.elbo_curves, cfg, run.rows, map_points)
    files.save_metrics(dir_name, run.rows)
    epochs_before = sum(len(run.elbo_curves[i]) for i in range(it))
    curves = {"gmm": history, **{name: res.history for name, res in upper.items()}}
    files.log_round(writer, it, row, {"vae/elbo_per_epoch": (run.elbo_curves[it], epochs_before),
                                      **{f"{name}/{k}_per_sweep": (v, it * len(v))
                                         for name, h in curves.items() for k, v in h.items()}})


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
            images, counts2, labels = serket_data.load_serket_files(cfg["serket_dir"])
            what = f"{len(images)} pairs from {cfg['serket_dir']}"
        elif cfg["model"] in MULTIMODAL:
            images, counts2, labels = serket_data.load_digit_pairs(cfg["data_root"])
            what = f"{len(images)} pairs of an MNIST image and an sklearn digits sample"
        elif cfg["data_path"]:
            images, labels = tool.load_user_data(cfg["data_path"], cfg["label_path"])
            what = f"{len(images)} points of {images.shape[1]} values from {cfg['data_path']}"
        else:
            images, labels = tool.load_dataset(cfg["dataset"], cfg["data_root"], cfg["n_data"])
            what = f"{len(images)} {tool.DATASETS[cfg['dataset']][0]} images"
    except tool.DataError as err:
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
    checks.make_repeatable(device)  # on CUDA: deterministic kernels, no TF32
    model_dir = os.path.join("model", cfg["dir_name"])
    if cfg["generate"]:
        return generate_images(cfg, model_dir, device)
    files.check_model_dir(model_dir, cfg["resume"])
    writer_class = checks.tensorboard_writer(cfg)
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
        done = len(files.read_metrics(model_dir))
    except (SettingError, RunError):
        return "main.py: interrupted"
    if done == 0:
        return f"main.py: interrupted before round 0 was complete; nothing of it was kept in {model_dir}"
    return (f"main.py: interrupted; rounds 0-{done - 1} are saved in {model_dir}; continue with "
            f"python main.py --dir_name={cfg['dir_name']} --resume=True (and the same settings)")


def command(argv):
    """main(argv) as the command line runs it: None when it ends well, else the one line it
    exits with (a bad setting or file, an interrupt, an unwritable folder); no traceback."""
    try:
        main(argv)
    except (SettingError, RunError, gmm_module.GMMError) as err:
        return f"main.py: {err}"
    except KeyboardInterrupt:
        return interrupted_message(argv)
    except OSError as err:  # one not met in the run folder (files.write_atomic, files.load_file names those)
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        return f"main.py: {where}{err.strerror or err} ({type(err).__name__})"
    return None


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, _raise_interrupt)
    sys.exit(command(sys.argv[1:]))
