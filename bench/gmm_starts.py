"""Would several GMM chains, the best picked without labels, cluster a run's latents better?

    python bench/gmm_starts.py --run=model/readme --rounds=4,5 --starts=5

For each round, reruns that round's GMM step (a fresh start from the run's gmm_init, then
gmm_iter sweeps, with the run's prior) from --starts seeds on the latents the run saved
(npy/z_<round>.npy), and prints each chain's GMM log joint (the unsupervised criterion a
multi-chain recipe would pick by) beside its ACC and NMI (labels score only). The data,
and so the labels, come from the run's config.json.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gmm_module  # noqa: E402
import main  # noqa: E402
import run_dir  # noqa: E402
import settings  # noqa: E402


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="model/debug", help="folder of a finished run")
    p.add_argument("--rounds", default="-1", help="comma-separated rounds; -1 is the last saved")
    p.add_argument("--starts", type=int, default=5)
    args = p.parse_args()
    try:
        cfg = run_dir.load_run_config(args.run)
        _, labels, _ = main.load_data(cfg)
        rounds = len(run_dir.read_metrics(args.run))  # complete rounds, as --generate counts them
    except (main.SettingError, main.RunError) as err:
        sys.exit(f"gmm_starts.py: {err}")
    if labels is None:
        sys.exit("gmm_starts.py: the run's data has no labels, so there is nothing to score")
    for r in (int(s) for s in args.rounds.split(",")):
        r = rounds - 1 if r == -1 else r
        if not 0 <= r < rounds:
            sys.exit(f"gmm_starts.py: {args.run} has no round {r}: use --rounds from 0-{rounds - 1}")
        try:
            z = run_dir.load_array(args.run, "z", r)
        except main.RunError as err:
            sys.exit(f"gmm_starts.py: {err}")
        print(f"round {r}: chain, GMM log joint, ACC, NMI")
        for s in range(args.starts):
            gmm = gmm_module.fit_gibbs(z, cfg["K"], cfg["gmm_iter"], np.random.default_rng([cfg["seed"], r, s]),
                                       main.gmm_prior(cfg, z), init=cfg["gmm_init"], labels=labels,
                                       assign=cfg["gmm_assign"], burn_in=settings.burn_in(cfg))
            h = gmm.history
            print(f"  {s}  {h['log_joint'][-1]:.1f}  {h['acc'][-1]:.4f}  {h['nmi'][-1]:.4f}", flush=True)


if __name__ == "__main__":
    main_bench()
