"""The VAE's KL and loss against torch.distributions, and per-image prior rows."""
import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

import tool
import vae_module as vm


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    m, logvar = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    mu, var = torch.randn(7, 5, generator=g), torch.rand(7, 5, generator=g) + 0.1
    want = kl_divergence(Independent(Normal(m, (0.5 * logvar).exp()), 1),
                         Independent(Normal(mu, var.sqrt()), 1))
    torch.testing.assert_close(vm.kl_to_prior(m, logvar, mu, var), want)


def test_kl_with_standard_prior_is_kingma_welling_appendix_b():
    m, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    want = -0.5 * (1 + logvar - m**2 - logvar.exp()).sum(1)
    got = vm.kl_to_prior(m, logvar, torch.zeros(1, 2), torch.ones(1, 2))
    torch.testing.assert_close(got, want)


def test_prior_rows_follow_the_batch_permutation():
    """Every image in a shuffled batch is scored against its own prior row."""
    torch.manual_seed(0)
    n, D = 23, 3
    model = vm.VAE(784, (8,), D)
    data = torch.rand(n, 784)
    prior_mu = torch.arange(n * D, dtype=torch.float32).reshape(n, D)
    prior_var = torch.rand(n, D) + 0.5
    loader = tool.IndexedBatches(data, 5, shuffle=True, generator=torch.Generator().manual_seed(1))
    seen = []
    for o, idx in loader:
        assert torch.equal(o, data[idx])
        m, logvar = model.encode(o)
        got = vm.kl_to_prior(m, logvar, prior_mu[idx], prior_var[idx])
        for row, i in enumerate(idx.tolist()):
            m_i, lv_i = model.encode(data[i:i + 1])
            torch.testing.assert_close(got[row:row + 1],
                                       vm.kl_to_prior(m_i, lv_i, prior_mu[i:i + 1], prior_var[i:i + 1]))
        seen += idx.tolist()
    assert sorted(seen) == list(range(n)) and seen != list(range(n))


def test_original_defects_use_the_batch_number_row_and_a_kl_weight_of_one_over_b():
    """original_defects=True trains as the original code: batch b of an in-order pass gets
    prior row b for all its images, and the KL is averaged while the BCE is summed."""
    n, B, D = 12, 4, 3
    data = (torch.rand(n, 784, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    prior_mu = torch.arange(n * D, dtype=torch.float32).reshape(n, D) / 10
    prior_var = torch.linspace(0.5, 2.0, n * D).reshape(n, D)
    models = []
    for _ in range(2):
        torch.manual_seed(3)
        models.append(vm.VAE(784, (8,), D))
    loader = tool.IndexedBatches(data, B, shuffle=False)
    vm.train(models[0], loader, prior_mu, prior_var, 1, torch.optim.SGD(models[0].parameters(), 0.1),
             alpha=1.0, generator=torch.Generator().manual_seed(5), original_defects=True)
    by_hand, g = models[1], torch.Generator().manual_seed(5)
    opt = torch.optim.SGD(by_hand.parameters(), 0.1)
    for b in range(n // B):
        o = data[b * B:(b + 1) * B]
        m, logvar = by_hand.encode(o)
        z = m + (0.5 * logvar).exp() * torch.randn(m.shape, generator=g)
        rec = torch.nn.functional.binary_cross_entropy_with_logits(by_hand.decode_logits(z), o, reduction="sum")
        kl = vm.kl_to_prior(m, logvar, prior_mu[b].expand(B, D), prior_var[b].expand(B, D)).mean()
        opt.zero_grad()
        ((rec + kl) / B).backward()
        opt.step()
    for a, h in zip(models[0].parameters(), by_hand.parameters()):
        torch.testing.assert_close(a, h)
    torch.manual_seed(3)
    fixed = vm.VAE(784, (8,), D)
    vm.train(fixed, loader, prior_mu, prior_var, 1, torch.optim.SGD(fixed.parameters(), 0.1),
             generator=torch.Generator().manual_seed(5))
    assert not all(torch.allclose(a, f) for a, f in zip(models[0].parameters(), fixed.parameters()))


def test_training_raises_the_elbo_and_latents_keep_order():
    torch.manual_seed(0)
    data = (torch.rand(64, 784) > 0.7).float()
    model = vm.VAE(784, (32,), 4)
    loader = tool.IndexedBatches(data, 16, shuffle=True, generator=torch.Generator().manual_seed(0))
    zeros, ones = torch.zeros(64, 4), torch.ones(64, 4)
    elbo = vm.train(model, loader, zeros, ones, 15, torch.optim.Adam(model.parameters(), 1e-3))
    assert len(elbo) == 15 and elbo[-1] > elbo[0] and np.all(np.isfinite(elbo))
    z = vm.send_all_z(model, tool.IndexedBatches(data, 10, shuffle=False))
    want = model.encode(data)[0].detach().double().numpy()
    np.testing.assert_allclose(z, want, rtol=1e-5, atol=1e-6)
    images = vm.decode(model, z[:3], torch.device("cpu"))
    assert images.shape == (3, 784) and images.min() >= 0 and images.max() <= 1


def test_original_architecture_is_expressible():
    model = vm.VAE(784, (256,), 12)
    shapes = [p.shape for p in model.parameters() if p.dim() == 2]
    assert shapes == [(256, 784), (12, 256), (12, 256), (256, 12), (784, 256)]


def test_loss_stays_finite_with_a_collapsed_prior_variance():
    """prior_from_gmm floors the GMM's variances; the KL is then finite and training works."""
    torch.manual_seed(0)
    data = torch.rand(32, 784)
    mu, var = vm.prior_from_gmm(np.full((32, 3), 5.0), np.full((32, 3), 1e-30), "cpu")
    assert float(var.min()) == pytest.approx(1e-3)
    model = vm.VAE(784, (16,), 3)
    loader = tool.IndexedBatches(data, 8, shuffle=True, generator=torch.Generator().manual_seed(0))
    elbo = vm.train(model, loader, mu, var, 3, torch.optim.Adam(model.parameters(), 1e-3))
    assert np.all(np.isfinite(elbo))


def test_conv_vae_shapes_and_loss():
    torch.manual_seed(0)
    model = vm.ConvVAE(784, (64,), 5)
    o = torch.rand(6, 784)
    m, logvar = model.encode(o)
    assert m.shape == (6, 5) and logvar.shape == (6, 5)
    assert model.decode_logits(m).shape == (6, 784)
    rec, kl = vm.loss_terms(model, o, torch.zeros(6, 5), torch.ones(6, 5))
    assert rec.shape == (6,) and torch.all(torch.isfinite(rec)) and torch.all(kl >= 0)
    with pytest.raises(ValueError, match="side divisible by 4"):
        vm.ConvVAE(100, (8,), 2)


def test_cosine_schedule_matches_torch_cosine_annealing_and_restarts_every_call():
    """The per-step rate is torch's CosineAnnealingLR (eta_min 0) over the call's steps;
    each call (round) starts again at LEARNING_RATE; schedule=False keeps Adam's rate."""
    layer = torch.nn.Linear(2, 2)
    reference = torch.optim.SGD(layer.parameters(), lr=vm.LEARNING_RATE)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=12)
    want = []
    for _ in range(12):
        want.append(reference.param_groups[0]["lr"])
        reference.step()
        annealing.step()
    np.testing.assert_allclose([vm.cosine_lr(s, 12) for s in range(12)], want, rtol=1e-12)

    torch.manual_seed(0)
    model = vm.VAE(x_dim=16, hidden_dims=(8,), latent_dim=2)
    loader = tool.IndexedBatches(torch.rand(40, 16), 10, shuffle=False)
    zeros = torch.zeros(40, 2)
    seen = []
    optimizer = torch.optim.Adam(model.parameters(), lr=vm.LEARNING_RATE)
    optimizer.register_step_pre_hook(lambda opt, *_: seen.append(opt.param_groups[0]["lr"]))
    for _ in range(2):
        vm.train(model, loader, zeros, zeros + 1, 3, optimizer, schedule=True)
    np.testing.assert_allclose(seen, [vm.cosine_lr(s, 12) for s in range(12)] * 2, rtol=1e-12)
    seen.clear()
    optimizer.param_groups[0]["lr"] = 0.01
    vm.train(model, loader, zeros, zeros + 1, 1, optimizer)
    assert seen == [0.01] * 4
