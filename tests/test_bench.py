"""bench/analyse.py rounds (the round a rule without labels reports, read from metrics.csv) and
maps' table."""
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
