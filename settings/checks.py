"""Settings: override files and `--name=value` overrides of main.py's settings block,
checked, resolved for the data, and tied to the settings of a run saved earlier (resume).

Every error is a SettingError whose one-line message names the setting and what is allowed.
"""
import ast
import json
import os


def _idx_files(folder, train_prefix, test_prefix, labels="labels-idx1-ubyte"):
    return [f"{folder}/raw/{prefix}-{kind}" for prefix in (train_prefix, test_prefix)
            for kind in ("images-idx3-ubyte", labels)]


# --dataset: torchvision's class, its arguments, and the files it reads under data_root
# (tool.load_dataset loads them)
DATASETS = {
    "mnist": ("MNIST", {}, _idx_files("MNIST", "train", "t10k")),
    "fashionmnist": ("FashionMNIST", {}, _idx_files("FashionMNIST", "train", "t10k")),
    "kmnist": ("KMNIST", {}, _idx_files("KMNIST", "train", "t10k")),
    "qmnist": ("QMNIST", {"compat": True}, _idx_files("QMNIST", "qmnist-train", "qmnist-test",
                                                      labels="labels-idx2-int")),
    "emnist": ("EMNIST", {"split": "digits"}, _idx_files("EMNIST", "emnist-digits-train",
                                                         "emnist-digits-test")),
    "usps": ("USPS", {}, ["usps.bz2", "usps.t.bz2"]),
}
MULTIMODAL = ("vae_gmm_mlda", "vae_gmm_mlda_mm")  # Serket's models, with a second modality
MODELS = ("vae_gmm",) + MULTIMODAL + ("gmvae",)
ROUND0_IMAGES = 750_000   # vae_epochs=0: round 0 trains about this many images (75 epochs of 10,000) ...
ROUND0_EPOCHS = (15, 75)  # ... in at least 15 and at most 75 epochs
MUTUAL_SHARE = 5          # mutual_epochs=0: every later round trains vae_epochs / 5 epochs (at least 1)
TSNE_ALL_POINTS = 10_000  # gmm_init="auto": a t-SNE map of every point up to this many points, UMAP above

# settings that may change on --resume
RESUMABLE = ("mutual_iteration", "resume", "device", "device_used", "cuda_deterministic", "data_root", "dir_name",
             "sample_num", "tsne_points", "generate", "generate_round", "transit", "tensorboard")


class SettingError(ValueError):
    """A bad setting; its message names the setting and what is allowed."""


def parse_settings(argv, defaults):
    """Override files (config/NAME.py) and --name=value overrides of defaults, in the order
    given -> dict. Unknown names and bad values raise SettingError."""
    cfg = dict(defaults)
    for arg in argv:
        if arg.endswith(".py") and not arg.startswith("--"):
            cfg.update(read_override_file(arg, defaults))
            continue
        if not arg.startswith("--") or "=" not in arg:
            raise SettingError(f"argument {arg!r}: write settings as --name=value, e.g. --mutual_iteration=5, "
                               "or name a file of overrides, e.g. config/original_code.py")
        name, raw = arg[2:].split("=", 1)
        if name not in cfg:
            raise SettingError(f"unknown setting {name!r}; known settings: {', '.join(defaults)}")
        cfg[name] = _convert(name, raw, defaults[name])
    check_settings(cfg)
    return cfg


def read_override_file(path, defaults):
    """{name: value} of a file of overrides: lines `name = value` (Python literals) and
    comments, as nanoGPT's configurator reads config/*.py, but nothing is executed."""
    try:
        with open(path) as f:
            text = f.read()
        tree = ast.parse(text, filename=path)
    except OSError as err:
        raise SettingError(f"override file {path}: {err.strerror}; name a file such as config/original_code.py") from None
    except SyntaxError as err:
        raise SettingError(f"override file {path}, line {err.lineno}: not Python ({err.msg})") from None
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the file's docstring
        ok = (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name))
        if not ok:
            raise SettingError(f"override file {path}, line {node.lineno}: write `name = value` lines only")
        name = node.targets[0].id
        if name not in defaults:
            raise SettingError(f"override file {path}, line {node.lineno}: unknown setting {name!r}")
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            raise SettingError(f"override file {path}, line {node.lineno}: {name} must be a plain value "
                               "(a number, a string in quotes, True/False or a tuple)") from None
        try:
            out[name] = _convert(name, value if isinstance(value, str) else repr(value), defaults[name])
        except SettingError as err:
            raise SettingError(f"override file {path}, line {node.lineno}: {err}") from None
    return out


def _convert(name, raw, default):
    """raw (the text after '=') as a value of default's type, or SettingError."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    if isinstance(default, bool):
        value = {"true": True, "false": False, "1": True, "0": False}.get(str(value).lower(), value)
        ok = isinstance(value, bool)
    elif isinstance(default, tuple):
        value = (value,) if isinstance(value, int) else value
        ok = isinstance(value, (tuple, list)) and all(type(v) is int for v in value)
        value = tuple(value) if ok else value
    elif isinstance(default, float):
        ok = type(value) in (int, float)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = type(value) is int
    else:
        value, ok = str(raw), True
    if not ok:
        raise SettingError(f"setting {name}={raw!r}: expected {type(default).__name__} like {default!r}")
    return value


def check_settings(cfg):
    """Raise SettingError for the first setting outside its allowed range."""
    rules = [
        ("mutual_iteration", cfg["mutual_iteration"] >= 1, "an integer >= 1"),
        ("dir_name", cfg["dir_name"].strip() not in ("", ".", ".."), "a non-empty folder name"),
        ("dataset", cfg["dataset"] in DATASETS, " or ".join(repr(d) for d in DATASETS)),
        ("n_data", cfg["n_data"] >= 1, "an integer >= 1"),
        ("latent_dim", cfg["latent_dim"] >= 1, "an integer >= 1"),
        ("hidden_dims", len(cfg["hidden_dims"]) >= 1 and min(cfg["hidden_dims"]) >= 1,
         "one or more layer sizes >= 1, e.g. --hidden_dims=256 or --hidden_dims=500,500"),
        ("architecture", cfg["architecture"] in ("dense", "conv"), "'dense' or 'conv'"),
        ("hidden_dims", cfg["architecture"] != "conv" or len(cfg["hidden_dims"]) == 1,
         "one size with architecture='conv', the size of its one dense layer, e.g. --hidden_dims=256; "
         "several layers need --architecture=dense"),
        ("vae_epochs", cfg["vae_epochs"] >= 0, "an integer >= 1, or 0 (epochs that make 750,000 images, 15 to 75)"),
        ("mutual_epochs", cfg["mutual_epochs"] >= 0, "an integer >= 1, or 0 (vae_epochs / 5)"),
        ("batch_size", cfg["batch_size"] >= 1 and (cfg["data_path"] or cfg["batch_size"] <= cfg["n_data"]),
         f"between 1 and n_data={cfg['n_data']}"),
        ("send", cfg["send"] in ("mean", "sample"), "'mean' or 'sample'"),
        ("K", cfg["K"] >= 1 and (cfg["data_path"] or cfg["K"] <= cfg["n_data"]),
         f"an integer between 1 and n_data={cfg['n_data']}"),
        ("gmm_iter", cfg["gmm_iter"] >= 1, "an integer >= 1"),
        ("message", cfg["message"] in ("point", "expected"), "'point' or 'expected'"),
        ("gmm_init", cfg["gmm_init"] in ("auto", "umap", "tsne", "kmeans", "prior"),
         "'auto', 'tsne', 'umap', 'kmeans' or 'prior'"),
        ("sample_num", cfg["sample_num"] >= 1, "an integer >= 1"),
        ("tsne_points", cfg["tsne_points"] >= 0, "an integer >= 0 (0 skips t-SNE)"),
        ("generate", cfg["generate"] in ("", "clusters", "prior", "transit"),
         "'' (train), 'clusters', 'prior' or 'transit'"),
        ("transit", len(cfg["transit"]) == 2 and min(cfg["transit"]) >= 0,
         "two image indices >= 0, e.g. --transit=3,7"),
        ("model", cfg["model"] in MODELS, " or ".join(repr(m) for m in MODELS)),
        ("resume", not (cfg["resume"] and cfg["model"] == "gmvae"),
         "False with --model=gmvae (it trains in one go; rerun it into a new --dir_name)"),
        ("device", cfg["device"] == "auto" or cfg["device"] == "cpu"
         or cfg["device"].split(":")[0] == "cuda", "'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ]
    for name, ok, allowed in rules:
        if not ok:
            raise SettingError(f"setting {name}={cfg[name]!r} is not allowed: use {allowed}")


def pick_device(name):
    """'auto' -> CUDA when available, else CPU; an explicit CUDA device must exist."""
    import torch
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingError(f"setting device={name!r}: CUDA is not available here; use --device=cpu or auto")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SettingError(f"setting device={name!r}: not a device name; use 'auto', 'cpu', 'cuda' "
                           "or 'cuda:N'") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise SettingError(f"setting device={name!r}: this machine has {torch.cuda.device_count()} CUDA "
                           f"device(s), numbered from 0; use --device=cuda:0 or auto")
    return device


def make_repeatable(device):
    """On a CUDA device, switch to kernels that give the same numbers every run: cuDNN's
    deterministic convolutions (no autotuning), torch's deterministic algorithms (a warning,
    not an error, for an operation that has none), cuBLAS's fixed workspace
    (CUBLAS_WORKSPACE_CONFIG, unless set already) and no TF32. Returns True when it switched
    (recorded in config.json as cuda_deterministic), None on the CPU, which repeats anyway
    for one CPU kind and thread count."""
    import torch
    if device.type != "cuda":
        return None
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    return True


def tensorboard_writer(cfg):
    """TensorBoard's SummaryWriter class with --tensorboard=True, else None.

    Called before any work, so a missing package stops the run at once (SettingError)."""
    if not cfg["tensorboard"]:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise SettingError("setting tensorboard=True needs the tensorboard package: "
                           "pip install tensorboard, or leave tensorboard=False") from None
    return SummaryWriter


def epochs_for_images(images, n):
    """Epochs of n images that train about `images` images: round(images / n), at least 1."""
    return max(1, round(images / n))


def resolve_epochs(cfg, n):
    """cfg for n images with the automatic settings replaced by what they mean at n:
    vae_epochs=0, mutual_epochs=0 and gmm_init="auto" (the saved config.json says what ran).

    vae_epochs=0: the epochs that train ROUND0_IMAGES images (75 of 10,000), but at least 15
    (a large set still gets 15 passes: 15 of 70,000) and at most 75 (a small set, say
    --n_data=600, stays quick). mutual_epochs=0: vae_epochs / 5, at least 1, whether
    vae_epochs was given or resolved (--vae_epochs=3 gives 1 epoch in every later round).
    gmm_init="auto": "tsne" up to TSNE_ALL_POINTS points (scikit-learn's t-SNE then maps
    every point), "umap" above (a UMAP map of every point; t-SNE would map a subset).
    """
    low, high = ROUND0_EPOCHS
    first = cfg["vae_epochs"] or min(max(epochs_for_images(ROUND0_IMAGES, n), low), high)
    start = cfg["gmm_init"] if cfg["gmm_init"] != "auto" else ("tsne" if n <= TSNE_ALL_POINTS else "umap")
    return {**cfg, "vae_epochs": first, "mutual_epochs": cfg["mutual_epochs"] or max(1, round(first / MUTUAL_SHARE)),
            "gmm_init": start}


def round_epochs(cfg, it):
    """VAE epochs of round it of a resolved cfg: vae_epochs in round 0, mutual_epochs after."""
    return cfg["vae_epochs"] if it == 0 else cfg["mutual_epochs"]


def check_same_settings(cfg, saved, where):
    """SettingError unless cfg matches the saved run's settings (but for RESUMABLE ones)."""
    for name, value in cfg.items():
        if name not in RESUMABLE and json.loads(json.dumps(value)) != saved.get(name):
            raise SettingError(f"setting {name}={value!r} differs from the run in {where} "
                               f"({saved.get(name)!r}); resume with the same settings and code")
