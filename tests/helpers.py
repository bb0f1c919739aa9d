"""What several test files share: running main.py (in this process, or in a new one) and
reading what it wrote."""
import contextlib
import csv
import io
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# a tiny MNIST run: two rounds of a small dense-sized network on the tiny_mnist fixture's 300 images,
# chains started by k-means (UMAP's just-in-time compilation costs ~30 s a process; the default
# map has its own end-to-end test, test_main.test_default_umap_start_runs_end_to_end)
TINY = ["--n_data=300", "--mutual_iteration=2", "--vae_epochs=2", "--mutual_epochs=2", "--gmm_iter=5",
        "--batch_size=50", "--hidden_dims=64", "--latent_dim=4", "--tsne_points=100", "--sample_num=4", "--device=cpu",
        "--gmm_init=kmeans"]


def run_main(cwd, *args):
    """main.py *args as the command line runs it (main.command), but in this process, with
    cwd as the working folder: a CompletedProcess (returncode 0 or 1, printed text, and on
    stderr the progress bars and the one line a failed run exits with)."""
    import main
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            message = main.command(list(args))
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(args, 1 if message else 0, out.getvalue(),
                                       err.getvalue() + (message + "\n" if message else ""))


def run_cli(cwd, *args):
    """python main.py *args in a new process in folder cwd: the CompletedProcess (text)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def read_metrics(path):
    """Rows of a metrics.csv as dicts of strings."""
    with open(path) as f:
        return list(csv.DictReader(f))


def without_seconds(rows):
    """Rows of metrics.csv without their 'seconds', the one column that differs between equal runs."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
