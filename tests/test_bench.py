"""bench/: analyse.py rounds (the round a rule without labels reports, read from metrics.csv),
maps' table and compare (two recipes paired by seed), the profiler's bf16 variant, and the
three entry scripts."""
import os
import shutil
import sys

from helpers import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import analyse  # noqa: E402
from run_folder import files  # noqa: E402

RUN = os.path.join(ROOT, "bench", "results", "cpu_chain_10k", "chain_s1")


def write_run(folder, elbo, acc):
    """A run folder with a committed run's config.json and the given ELBO and ACC per round."""
    os.makedirs(folder)
    shutil.copy(os.path.join(RUN, "config.json"), folder)
    files.save_metrics(str(folder), [{"round": i, "elbo": e, "acc": a, "nmi": 0.5, "ari": 0.5, "seconds": 1.0}
                                     for i, (e, a) in enumerate(zip(elbo, acc))])


def test_rounds_reports_the_round_of_the_largest_elbo(tmp_path):
    write_run(tmp_path / "rises", [-110, -100, -95], [0.5, 0.6, 0.7])
    write_run(tmp_path / "peaks", [-110, -90, -95], [0.5, 0.8, 0.6])
    rises, peaks = (analyse.rounds_run(str(tmp_path / n)) for n in ("rises", "peaks"))
    assert (rises["elbo_rises"], rises["max_elbo_round"]) == (True, 2)
    assert (peaks["elbo_rises"], peaks["max_elbo_round"]) == (False, 1)
    table = analyse.rounds_table([rises, peaks])
    assert "| largest ELBO | 0.750 [0.700, 0.800] |" in table
    assert "| last round | 0.650 [0.600, 0.700] |" in table
    assert rises["changed"] is None and "DEC's rule" not in table


def test_rounds_gives_the_changed_share_and_decs_round(tmp_path):
    """With the classes saved (a model/ folder): the share of points whose class changed
    since the last round, and DEC's rule, the first later round under 5%, else the last."""
    import numpy as np
    write_run(tmp_path / "r", [-110, -100, -95, -94], [0.5, 0.6, 0.7, 0.65])
    (tmp_path / "r" / "npy").mkdir()
    for it, n_moved in enumerate([0, 30, 4, 0]):  # points 0..n_moved-1 in the next class
        classes = np.arange(100) % 10
        classes[:n_moved] = (classes[:n_moved] + 1) % 10
        np.save(tmp_path / "r" / "npy" / f"class_{it}.npy", classes)
    got = analyse.rounds_run(str(tmp_path / "r"))
    assert got["changed"] == [None, 0.30, 0.26, 0.04] and got["dec_round"] == 3
    table = analyse.rounds_table([got])
    assert "| r | 30.0% | 26.0% | 4.0% | 3 |" in table
    assert "first later round changing < 5% of points, else the last) | 0.650 [0.650, 0.650] |" in table


def test_maps_table_keeps_the_rounds_apart():
    """maps --round: results of round-0 and round-5 latents give separate rows; an older
    results.json without a round counts as round 0."""
    def result(it, acc):
        scores = {"acc": acc, "nmi": 0.5, "ari": 0.5}
        maps = {"tsne_350": {"map_seconds": 2.0, "map": scores, "chain": scores}}
        row = {"run": "r", "seed": 1, "n_data": 100, "maps": maps}
        return row if it is None else {**row, "round": it}
    table = analyse.maps_table([result(None, 0.6), result(0, 0.8), result(5, 0.9)], ["tsne_350"])
    assert "| tsne_350 | 100 | 0 | 2 | 0.700 [0.600, 0.800] |" in table
    assert "| tsne_350 | 100 | 5 | 1 | 0.900 [0.900, 0.900] |" in table


def test_bf16_variant_keeps_float32_outputs_near_the_float32_network():
    """profiler's bf16_autocast runs the networks in bfloat16 but hands float32 tensors of the
    same shapes to the loss, within bfloat16's precision of the float32 network's."""
    import torch
    import profiler
    import vae_module
    torch.manual_seed(0)
    model = vae_module.build_vae("conv", 784, (256,), 12)
    o = torch.rand(8, 784)
    with torch.no_grad():
        mean, logvar = model.encode(o)
        logits = model.decode_logits(mean)
        bf16 = profiler.bf16_networks(model)
        mean16, logvar16 = bf16.encode(o)
        logits16 = bf16.decode_logits(mean)
    for ref, got in ((mean, mean16), (logvar, logvar16), (logits, logits16)):
        assert got.dtype == torch.float32 and got.shape == ref.shape
        assert torch.allclose(got, ref, rtol=0.05, atol=0.05) and not torch.equal(got, ref)


def write_results(folder, last_acc, seeds=None, n_data=10000, cpu="AMD EPYC"):
    """A results folder of bench/run.py: results.json with these last-round ACCs (round 0
    0.05 lower) and a calibration.json."""
    import json
    from common import save_results
    seeds = seeds or list(range(1, len(last_acc) + 1))
    rows = [{"run": f"r_s{s}", "recipe": "", "seed": s, "n_data": n_data, "rounds": 6, "epochs": [75, 15],
             "wall_seconds": 600.0 + s, "images_per_second": 1000, "calibration_multiple": 30.0 + s,
             "round0": {"acc": a - 0.05, "nmi": 0.8, "ari": 0.8, "seconds": 300.0},
             "last": {"acc": a, "nmi": 0.9, "ari": 0.9, "seconds": 60.0}} for s, a in zip(seeds, last_acc)]
    save_results(str(folder), rows)
    with open(folder / "calibration.json", "w") as f:
        json.dump({"cpu": cpu, "cpu_capability": "AVX512", "torch_threads": 1, "torch": "2.14.1", "calibration_s": 20.0}, f)


def test_compare_gives_the_paired_difference_and_its_lower_bound(tmp_path):
    """compare A B: B - A per seed, its mean, SE and mean - t SE (t of n - 1 degrees of
    freedom: 1.83 for 10 seeds), worst seeds and walls, checked against a hand computation."""
    import numpy as np
    import compare
    a = [0.95, 0.96, 0.94, 0.97, 0.955, 0.96, 0.965, 0.95, 0.945, 0.96]
    diffs = [0.01, -0.004, 0.006, 0.002, 0.0, 0.008, -0.002, 0.004, 0.01, 0.001]
    write_results(tmp_path / "A", a)
    write_results(tmp_path / "B", list(np.add(a, diffs)))
    c = compare.compare(str(tmp_path / "A"), str(tmp_path / "B"))
    d = c["diff"]["acc"]
    se = np.std(diffs, ddof=1) / np.sqrt(10)
    assert d["n"] == 10 and abs(d["mean"] - np.mean(diffs)) < 1e-12 and abs(d["se"] - se) < 1e-12
    assert abs(d["t"] - 1.833) < 1e-3 and abs(d["lower"] - (np.mean(diffs) - 1.8331129 * se)) < 1e-6
    table = compare.compare_table(c)
    assert f"| ACC | {np.mean(diffs):+.4f} | {se:.4f} | {np.mean(diffs) - 1.8331129 * se:+.4f} | 1.83 | 10 |" in table
    assert "| A | seed 3: 0.9400 | +0.0500 |" in table and "other CPU kinds" not in table
    assert "| 3 | 0.8900 | 0.9400 | 0.9000 | 0.8960 | 0.9460 | 0.9000 | +0.0060 |" in table


def test_compare_refuses_other_seeds_or_sizes_and_flags_other_cpus(tmp_path):
    import pytest
    import compare
    write_results(tmp_path / "A", [0.9, 0.9, 0.9])
    write_results(tmp_path / "B", [0.9, 0.9, 0.9], seeds=[1, 2, 4])
    with pytest.raises(ValueError, match=r"\[3\] only in the first, \[4\] only in the second"):
        compare.compare(str(tmp_path / "A"), str(tmp_path / "B"))
    write_results(tmp_path / "C", [0.9, 0.9, 0.9], n_data=70000)
    with pytest.raises(ValueError, match="other numbers of images"):
        compare.compare(str(tmp_path / "A"), str(tmp_path / "C"))
    write_results(tmp_path / "D", [0.9, 0.9, 0.9], cpu="Intel Xeon")
    assert "other CPU kinds" in compare.compare_table(compare.compare(str(tmp_path / "A"), str(tmp_path / "D")))


def test_bench_has_three_entry_scripts():
    """run.py runs, analyse.py reads what ran, profiler.py times; the other files are modules."""
    entries = sorted(f for f in os.listdir(os.path.join(ROOT, "bench")) if f.endswith(".py")
                     and "__main__" in open(os.path.join(ROOT, "bench", f)).read())
    assert entries == ["analyse.py", "profiler.py", "run.py"]


def test_gpu_check_dry_run_on_the_cpu(tiny_mnist, tmp_path):
    """bench/gpu_check.sh --device=cpu --dry_run: every part of the GPU check, tiny, into one
    folder (the calibration, the stages of a round, the run with its table)."""
    import json
    import subprocess
    out = tmp_path / "check"
    proc = subprocess.run(["bash", os.path.join(ROOT, "bench", "gpu_check.sh"), "--device=cpu", "--dry_run",
                           f"--data_root={tiny_mnist}", f"--out={out}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    calibration = json.loads((out / "calibration.json").read_text())
    assert calibration["calibration_images"] == 500 and calibration["calibration_s"] > 0
    stages = json.loads((out / "stages" / "profile.json").read_text())
    assert stages["machine"] == calibration and stages["stages"]["VAE epoch (median)"] > 0
    (row,) = json.loads((out / "results.json").read_text())
    assert row["seed"] == 1 and row["rounds"] == 2 and row["wall_seconds"] > 0 and 0 < row["last"]["acc"] <= 1
    assert (out / "table.md").is_file() and not (out / "test_cuda.txt").exists()


def test_restart_compares_the_fresh_start_with_the_last_rounds_classes(tiny_run, tiny_mnist):
    """analyse.py restart on a finished run: for every later round, the run's own chain and
    the chains from the last round's classes, each with ACC, mean log joint and the share
    of points that changed class."""
    import math
    import compare
    cwd, _ = tiny_run
    got = compare.restart_run(str(cwd / "model" / "a"), tiny_mnist)
    assert got["seed"] == 1 and [r["round"] for r in got["rounds"]] == [1]
    (one,) = got["rounds"]
    assert set(one) == {"round", "fresh map", "previous classes", "previous classes, its eta voting"}
    for name in ("fresh map", "previous classes", "previous classes, its eta voting"):
        assert 0 < one[name]["acc"] <= 1 and 0 <= one[name]["changed"] <= 1 and math.isfinite(one[name]["log_joint"])
    assert "| a | 1 |" in compare.restart_table([got])


def test_compare_can_pair_only_the_seeds_asked(tmp_path):
    import compare
    write_results(tmp_path / "A", [0.90, 0.91, 0.92, 0.93])
    write_results(tmp_path / "B", [0.95, 0.96])
    c = compare.compare(str(tmp_path / "A"), str(tmp_path / "B"), seeds=[1, 2])
    assert list(c["pairs"]) == [1, 2] and abs(c["diff"]["acc"]["mean"] - 0.05) < 1e-12
