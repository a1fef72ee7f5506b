from __future__ import annotations

import copy
import warnings

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from michigan.data import TensorDictDataset
from michigan.module import GAN_KEYS, GANModule
from michigan.train import WGANTrainingPlan

N_GENES, N_CODE, N_NOISE = 6, 2, 3


def _module(**kwargs) -> GANModule:
    settings = {
        "n_genes": N_GENES,
        "n_code": N_CODE,
        "n_noise": N_NOISE,
        "log_normalize": False,
        "generator_hidden": (8,),
        "critic_hidden": (8,),
        "n_features": 4,
        "generator_normalization": "none",
        "critic_normalization": "none",
        "dropout_rate": 0.0,
        "critic_dropout_rate": 0.0,
        "critic_input_dropout_rate": 0.0,
        "output_activation": None,
    }
    return GANModule(**{**settings, **kwargs})


def _loader(n_cells: int, batch_size: int) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    tensors = {
        "X": torch.rand(n_cells, N_GENES, generator=generator) * 3,
        GAN_KEYS.CODE_LOC: torch.randn(n_cells, N_CODE, generator=generator),
    }
    dataset = TensorDictDataset(tensors, np.arange(n_cells))
    sampler = BatchSampler(SequentialSampler(dataset), batch_size=batch_size, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


def _fit(plan: WGANTrainingPlan, loader: DataLoader, max_epochs: int = 1, callbacks=()):
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(plan, train_dataloaders=loader)
    return trainer


class _Snapshots(pl.Callback):
    """Copies of both networks at the start of every minibatch."""

    def __init__(self):
        self.states = []

    def on_train_batch_start(self, trainer, plan, batch, batch_idx):
        self.states.append(
            (copy.deepcopy(plan.module.generator), copy.deepcopy(plan.module.critic))
        )


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks run fastest on one thread (and the CI machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize(("n_critic", "n_batches"), [(5, 20), (3, 10), (1, 4)])
def test_critic_takes_n_critic_steps_per_generator_step(n_critic, n_batches):
    plan = WGANTrainingPlan(_module(), n_critic=n_critic)
    calls = []

    class Count(pl.Callback):
        def on_train_start(self, trainer, plan):
            opt_generator, opt_critic = trainer.optimizers
            opt_generator.register_step_post_hook(lambda *a: calls.append("G"))
            opt_critic.register_step_post_hook(lambda *a: calls.append("D"))

    trainer = _fit(plan, _loader(4 * n_batches, 4), callbacks=[Count()])
    expected = (["D"] * (n_critic - 1) + ["D", "G"]) * (n_batches // n_critic)
    expected += ["D"] * (n_batches % n_critic)
    assert calls == expected
    assert plan.critic_steps == n_batches and plan.generator_steps == n_batches // n_critic
    metrics = trainer.callback_metrics
    assert {"wasserstein_train", "gradient_penalty_train", "critic_loss_train"} <= set(metrics)
    assert all(torch.isfinite(v) for v in metrics.values())


def test_generator_updates_leave_the_critic_alone_and_vice_versa():
    plan = WGANTrainingPlan(_module(), n_critic=2)
    snapshots = _Snapshots()
    _fit(plan, _loader(8, 4), callbacks=[snapshots])  # batch 1: critic; batch 2: critic + G
    (g0, c0), (g1, c1) = snapshots.states
    for a, b in zip(g0.parameters(), g1.parameters(), strict=True):
        torch.testing.assert_close(a, b)  # no generator step after the first critic step
    assert any(
        not torch.equal(a, b) for a, b in zip(c0.parameters(), c1.parameters(), strict=True)
    )
    assert all(p.requires_grad for p in plan.module.critic.parameters())


def test_n_critic_must_be_positive():
    with pytest.raises(ValueError, match="n_critic"):
        WGANTrainingPlan(_module(), n_critic=0)


def _critic_loss_without_penalty(critic, generator, x, code, noise):
    return critic(generator(code, noise), code).mean() - critic(x, code).mean()


def _extrapolate(net_now, net_before):
    """A copy of ``net_now`` holding θ_now + (θ_now − θ_before)."""
    extrapolated = copy.deepcopy(net_now)
    with torch.no_grad():
        for p, now, before in zip(
            extrapolated.parameters(), net_now.parameters(), net_before.parameters(), strict=True
        ):
            p.copy_(2 * now - before)
    return extrapolated


def _grads(loss, net):
    return torch.autograd.grad(loss, list(net.parameters()))


@pytest.mark.parametrize("extrapolation", [True, False])
def test_extrapolation_step_uses_the_extrapolated_opponent(extrapolation):
    # One minibatch per epoch, n_critic = 1, two epochs: D, G, D, G. No noise, no penalty, so
    # the gradients of the last updates can be recomputed by hand.
    module = _module()
    module.sample_noise = lambda n, device=None, generator=None: torch.zeros(n, N_NOISE)
    plan = WGANTrainingPlan(
        module,
        n_critic=1,
        gp_lambda=0.0,
        extrapolation=extrapolation,
        lr_critic=0.05,
        lr_generator=0.05,
    )
    loader = _loader(8, 8)
    batch = next(iter(loader))
    x, code = batch["X"], batch[GAN_KEYS.CODE_LOC]
    noise = torch.zeros(8, N_NOISE)
    snapshots = _Snapshots()
    _fit(plan, loader, max_epochs=2, callbacks=[snapshots])
    (g0, _), (g1, c1) = snapshots.states
    c2 = module.critic

    # the second critic step saw the generator at θ̄ = θ1 + (θ1 − θ0)
    generator_bar = _extrapolate(g1, g0)
    critic_grad = [p.grad for p in c2.parameters()]
    extrapolated = _grads(_critic_loss_without_penalty(c1, generator_bar, x, code, noise), c1)
    without = _grads(_critic_loss_without_penalty(c1, g1, x, code, noise), c1)
    expected, other = (extrapolated, without) if extrapolation else (without, extrapolated)
    for got, want in zip(critic_grad, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert any(not torch.allclose(a, b) for a, b in zip(expected, other, strict=True))

    # the second generator step saw the critic at φ̄ = φ2 + (φ2 − φ1)
    critic_bar = _extrapolate(c2, c1)
    generator_grad = [p.grad for p in module.generator.parameters()]
    extrapolated = _grads(-critic_bar(g1(code, noise), code).mean(), g1)
    without = _grads(-c2(g1(code, noise), code).mean(), g1)
    expected, other = (extrapolated, without) if extrapolation else (without, extrapolated)
    for got, want in zip(generator_grad, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert any(not torch.allclose(a, b) for a, b in zip(expected, other, strict=True))


def test_nan_in_the_critic_stops_training_naming_the_stage():
    module = _module()
    with torch.no_grad():
        module.critic.linear.weight.fill_(float("nan"))
    plan = WGANTrainingPlan(module, n_critic=5)
    with pytest.raises(FloatingPointError, match="critic") as error:
        _fit(plan, _loader(12, 4))
    assert "learning rate" in str(error.value) and "unnormalised input" in str(error.value)


def test_inf_in_the_generator_loss_stops_training_naming_the_stage():
    module = _module()
    module.generator_loss = lambda code, n, library=None: torch.full(
        (), float("inf"), requires_grad=True
    )
    plan = WGANTrainingPlan(module, n_critic=2)
    with pytest.raises(FloatingPointError, match="the generator loss became NaN or infinite"):
        _fit(plan, _loader(16, 4))
    assert plan.generator_steps == 0


def test_counters_and_extrapolation_memory_go_into_checkpoints():
    plan = WGANTrainingPlan(_module(), n_critic=2, extrapolation=True)
    _fit(plan, _loader(12, 4))
    checkpoint = {}
    plan.on_save_checkpoint(checkpoint)
    restored = WGANTrainingPlan(_module(), n_critic=2, extrapolation=True)
    restored.on_load_checkpoint(checkpoint)
    assert (restored.critic_steps, restored.generator_steps) == (3, 1)
    pairs = zip(
        restored._extrapolate_critic.previous, plan._extrapolate_critic.previous, strict=True
    )
    for a, b in pairs:
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("n_critic", "generator_steps"), [(2, 7), (5, 3), (1, 10)])
def test_optimizer_steps_stop_lightning_after_that_many_generator_steps(n_critic, generator_steps):
    plan = WGANTrainingPlan(_module(), n_critic=n_critic)
    trainer = pl.Trainer(
        max_steps=plan.optimizer_steps(generator_steps),
        max_epochs=-1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(plan, train_dataloaders=_loader(12, 4))  # 3 critic steps per epoch
    assert plan.generator_steps == generator_steps
    assert plan.critic_steps == generator_steps * n_critic


def test_plan_averages_the_generator_after_every_generator_step():
    module = _module()
    seen = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, plan, outputs, batch, batch_idx):
            seen.append((plan.generator_steps, int(plan.module.average_steps)))

    plan = WGANTrainingPlan(module, n_critic=2, ema_decay=0.9, lr_generator=1e-2)
    _fit(plan, _loader(40, 4), callbacks=[Record()])
    assert all(steps == averaged for steps, averaged in seen)
    assert plan.generator_steps == 5 == int(module.average_steps)
    code, noise = torch.randn(3, N_CODE), torch.randn(3, N_NOISE)
    torch.testing.assert_close(module.generate(code, noise), module.generator_average(code, noise))
    assert not torch.allclose(module.generate(code, noise), module.generator(code, noise))


def test_without_ema_cells_come_from_the_trained_generator():
    module = _module()
    _fit(WGANTrainingPlan(module, n_critic=2), _loader(16, 4))  # averaged by default
    assert int(module.average_steps) == 2
    plan = WGANTrainingPlan(module, n_critic=2, ema_decay=None)
    _fit(plan, _loader(16, 4))
    assert int(module.average_steps) == 0
    code, noise = torch.randn(3, N_CODE), torch.randn(3, N_NOISE)
    torch.testing.assert_close(module.generate(code, noise), module.generator(code, noise))
    with pytest.raises(ValueError, match="ema_decay"):
        WGANTrainingPlan(_module(), ema_decay=1.0)


def test_losses_of_a_partial_last_epoch_are_logged():
    plan = WGANTrainingPlan(_module(), n_critic=2)
    trainer = pl.Trainer(
        max_steps=plan.optimizer_steps(1),
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(plan, train_dataloaders=_loader(40, 4))  # stops after 2 of 10 batches
    assert {"wasserstein_train", "generator_loss_train"} <= set(trainer.callback_metrics)
