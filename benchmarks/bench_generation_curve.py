"""Generation quality against generator steps, from one training run per GAN.

Trains MichiGAN (on a β-TCVAE's codes) and/or the unconditional WGAN-GP for ``--steps``
generator steps, keeps a copy of the sampling generator (the moving average of its weights)
every ``--every`` steps, and afterwards scores every copy with the metrics and the protocol of
``bench_generation.py`` (reference half, equal cells a side). The realism monitor's choice of
the best generator is not applied to the copies: the curve shows the raw course of training.

``--theta-init`` picks the count head's start: the package's (``neighbours``, the noise of
cells around their neighbours), ``tcvae`` (the β-TCVAE's per-gene dispersion) or a number (that
value for every gene; ``10`` was the package's start before ``neighbours``); ``--bias-init
mean`` starts its profile at the data's mean gene shares (see docs/generation_benchmark.md).

Examples
--------
python benchmarks/bench_generation_curve.py kang --steps 2400 --every 300
python benchmarks/bench_generation_curve.py splatter_nonlinear --models MichiGAN --steps 1200
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import time
import warnings
from pathlib import Path

import bench_generation as bg
import lightning.pytorch as pl
import numpy as np
import pandas as pd
import scvi
import torch
from anndata import AnnData
from scipy import sparse

import michigan as mg
from michigan.module._gan import CriticLoss
from michigan.train._realism_monitor import read_cells


class GeneratorSnapshots(pl.Callback):
    """Copies of the sampling generator's weights every ``every`` generator steps."""

    def __init__(self, every: int):
        self.every = every
        self.snapshots: list[tuple[int, float, dict]] = []
        self._last = 0

    def on_train_batch_end(self, trainer, plan, *args, **kwargs) -> None:
        steps = plan.generator_steps
        if steps >= self._last + self.every:
            self._last = steps
            state = copy.deepcopy(plan.module.sampling_generator.state_dict())
            self.snapshots.append((steps, time.process_time(), state))


class AdaptiveInputDropout(mg.train.RealismMonitor):
    """Trial: raise the critic's input-dropout rate whenever the monitored distance drifts.

    After every evaluation worse than ``1 + tolerance`` times the best so far, the share of
    genes hidden from the critic rises by ``step`` (up to ``max_rate``). The best generator is
    not restored (the curve shows the raw course).
    """

    def __init__(self, step=0.1, max_rate=0.5, tolerance=0.1, **kwargs):
        super().__init__(restore_best=False, **kwargs)
        self.step, self.max_rate, self.tolerance = step, max_rate, tolerance
        self.rates: list[tuple[int, float]] = []

    def _evaluate(self, trainer, plan):
        value = super()._evaluate(trainer, plan)
        critic = plan.module.critic
        if critic.input_dropout is None:
            critic.input_dropout = torch.nn.Dropout(0.0)
        if value > self.best_distance * (1 + self.tolerance):
            critic.input_dropout.p = min(self.max_rate, critic.input_dropout.p + self.step)
        self.rates.append((plan.generator_steps, critic.input_dropout.p))
        return value


class CriticOverfitting(pl.Callback):
    """Trial: how much better the critic scores its training cells than cells it never saw.

    Every ``every`` generator steps, with the critic in evaluation mode: the mean score of
    ``n`` training cells, of ``n`` held-out cells (the data splitter's validation cells: train
    with ``datasplitter_kwargs={"train_size": 0.9}``) and of generated cells (from the training
    cells' codes), and ADA's validation heuristic (Karras et al., 2020)
    ``r = (D_train − D_held) / (D_train − D_fake)``: 0 when held-out cells score like training
    cells, 1 when they score like generated ones. With a ``target`` the share of genes hidden
    from the critic moves by ``step`` towards keeping ``r`` at the target (within
    ``[0, max_rate]``); without one it is only measured.
    """

    def __init__(self, every=50, target=None, step=0.02, max_rate=0.6, n=256):
        self.every, self.target, self.step = every, target, step
        self.max_rate, self.n = max_rate, n
        self.trace: list[tuple[int, float, float]] = []
        self._last = 0

    def on_train_start(self, trainer, plan):
        held_loader = trainer.datamodule.val_dataloader()
        if held_loader is None:
            raise ValueError("CriticOverfitting needs held-out cells: train_size < 1")
        module = plan.module
        self._held = read_cells(held_loader, module, plan.device, self.n)
        n = self._held[0].shape[0]
        self._train = read_cells(trainer.train_dataloader, module, plan.device, n)
        critic = module.critic
        if critic.input_dropout is None:
            critic.input_dropout = torch.nn.Dropout(0.0)

    @torch.no_grad()
    def _ratio(self, module) -> float:
        critic = module.critic
        was_training = module.training
        module.eval()
        try:
            x, code, library = self._train
            fake = module.sample_fake(code, x.shape[0], library)
            train = float(critic(x, code).mean())
            held = float(critic(self._held[0], self._held[1]).mean())
            generated = float(critic(fake, code).mean())
        finally:
            module.train(was_training)
        return (train - held) / max(train - generated, 1e-8)

    def on_train_batch_end(self, trainer, plan, *args, **kwargs):
        if plan.generator_steps < self._last + self.every:
            return
        self._last = plan.generator_steps
        ratio = self._ratio(plan.module)
        dropout = plan.module.critic.input_dropout
        if self.target is not None:
            move = self.step if ratio > self.target else -self.step
            dropout.p = float(min(self.max_rate, max(0.0, dropout.p + move)))
        self.trace.append((plan.generator_steps, round(ratio, 4), round(dropout.p, 3)))


def lazy_gradient_penalty(module, every: int) -> None:
    """Trial: the gradient penalty on every ``every``-th critic step only, weighted ``every·λ``.

    As StyleGAN2's lazy R1 regularisation (Karras et al., 2020): the other critic steps skip
    the penalty's double backward pass, the costliest part of a critic step.
    """
    compute = module.critic_loss
    calls = itertools.count()

    def critic_loss(x, fake, code, gp_lambda, **targets):
        if next(calls) % every == 0:
            return compute(x, fake, code, gp_lambda * every, **targets)
        both_codes = None if code is None else torch.cat([code, code])
        real_score, fake_score = module.critic(torch.cat([x, fake]), both_codes).chunk(2)
        wasserstein = real_score.mean() - fake_score.mean()
        return CriticLoss(-wasserstein, wasserstein, torch.zeros_like(wasserstein))

    module.critic_loss = critic_loss


def noise_share(generator, codes: np.ndarray, seed: int) -> dict[str, float]:
    """How much of the spread of the generator's expected profiles comes from its noise.

    Two noise draws per code: half the mean squared difference of the two profiles is the
    variance due to the noise, the variance over cells of the first the total (mean over
    genes), as in ``noise_share = noise / total``.
    """
    code = torch.as_tensor(codes, dtype=torch.float32)
    draws = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        first, second = (
            generator(code, torch.randn(len(code), generator.n_noise, generator=draws)).numpy()
            for _ in range(2)
        )
    generator.train(was_training)
    noise, total = float(((first - second) ** 2).mean() / 2), float(first.var(0).mean())
    return {"profile_variance": total, "noise_variance": noise, "noise_share": noise / total}


def _train_tcvae(train: AnnData, args) -> mg.TCVAE:
    scvi.settings.seed = args.seed
    mg.TCVAE.setup_anndata(train, layer="counts")
    tcvae = mg.TCVAE(train, n_latent=10, beta=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tcvae.train(
            max_epochs=args.tcvae_epochs,
            accelerator="cpu",
            enable_progress_bar=False,
            enable_model_summary=False,
        )
    return tcvae


def _start_count_head(model, tcvae, counts: np.ndarray, args) -> None:
    head = model.module.generator.head
    with torch.no_grad():
        if args.theta_init == "tcvae":
            head.log_dispersion.copy_(tcvae.module.px_log_theta.detach())
        if args.bias_init == "mean":
            shares = counts.sum(0) / counts.sum()
            head.linear.bias.copy_(torch.from_numpy(np.log(np.maximum(shares, 1e-8))).float())
    if args.fixed_dispersion:
        head.log_dispersion.requires_grad_(False)


def _count_dispersion(theta_init: str) -> dict:
    """The model's ``count_dispersion``: its own start, or a fixed one that training keeps."""
    if theta_init == "neighbours":
        return {}
    return {"count_dispersion": 10.0 if theta_init == "tcvae" else float(theta_init)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=bg.DATASETS)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--every", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["MichiGAN", "WGAN-GP"])
    parser.add_argument("--tcvae-epochs", type=int, default=100)
    parser.add_argument(
        "--theta-init",
        default="neighbours",
        help="the count head's start θ: 'neighbours' (the package's), 'tcvae' or a number",
    )
    parser.add_argument("--bias-init", choices=("none", "mean"), default="none")
    parser.add_argument(
        "--fixed-dispersion", action="store_true", help="keep the count head's θ at its start"
    )
    parser.add_argument(
        "--model-kwargs", type=json.loads, default={}, help="JSON of extra model arguments"
    )
    parser.add_argument(
        "--train-kwargs", type=json.loads, default={}, help="JSON of extra train() arguments"
    )
    parser.add_argument("--n-cells", type=int, default=None, help="a random subset of cells")
    parser.add_argument("--tag", default="", help="suffix of the CSV's name")
    parser.add_argument(
        "--adaptive-dropout",
        type=json.loads,
        default=None,
        help='trial: JSON of AdaptiveInputDropout arguments, e.g. {"step": 0.1}',
    )
    parser.add_argument(
        "--critic-overfitting",
        type=json.loads,
        default=None,
        help='trial: JSON of CriticOverfitting arguments, e.g. {"target": 0.3}; holds out '
        "10 %% of the cells from the GAN",
    )
    parser.add_argument(
        "--noise-init-scale",
        type=float,
        default=None,
        help="trial: scale the generator's first-layer weights on the noise at the start",
    )
    parser.add_argument(
        "--lazy-penalty",
        type=int,
        default=None,
        help="trial: the gradient penalty on every k-th critic step only (weight k·λ)",
    )
    parser.add_argument("--data-dir", type=Path, default=bg.SHARED_DATA)
    parser.add_argument("--out", type=Path, default=Path("generation_curves"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    adata = bg.load(args.dataset, args.data_dir)
    if adata is None:
        return
    rng = np.random.default_rng(args.seed)
    if args.n_cells is not None and args.n_cells < adata.n_obs:
        adata = adata[np.sort(rng.choice(adata.n_obs, args.n_cells, replace=False))].copy()
    order = rng.permutation(adata.n_obs)
    reference, other = order[: adata.n_obs // 2], order[adata.n_obs // 2 :]
    n_eval = min(len(reference), len(other))
    counts = bg._dense(adata.layers["counts"]).astype(np.float32)
    real = bg.log_normalize(counts[np.sort(reference)])
    train = AnnData(
        X=sparse.csr_matrix(counts), var=pd.DataFrame(index=adata.var_names.astype(str))
    )
    train.layers["counts"] = train.X.copy()
    source_cells = np.sort(rng.choice(train.n_obs, n_eval, replace=False))
    tcvae = _train_tcvae(train, args) if "MichiGAN" in args.models else None

    rows = []
    for name in args.models:
        scvi.settings.seed = args.seed
        cls = mg.MichiGAN if name == "MichiGAN" else mg.WGANGP
        cls.setup_anndata(train, layer="counts")
        representation = {"representation": tcvae} if name == "MichiGAN" else {}
        dispersion = _count_dispersion(args.theta_init)
        model = cls(train, **representation, **dispersion, **args.model_kwargs)
        _start_count_head(model, tcvae, counts, args)
        if args.noise_init_scale is not None:
            n_code = model.module.generator.n_code
            for generator in (model.module.generator, model.module.generator_average):
                with torch.no_grad():
                    generator.hidden[0].weight[:, n_code:] *= args.noise_init_scale
        if args.lazy_penalty is not None:
            lazy_gradient_penalty(model.module, args.lazy_penalty)
        snapshots = GeneratorSnapshots(args.every)
        train_kwargs = dict(args.train_kwargs)
        adaptive = None
        if args.adaptive_dropout is not None:
            adaptive = AdaptiveInputDropout(**args.adaptive_dropout)
            train_kwargs["monitor"] = adaptive
        callbacks = [snapshots]
        overfitting = None
        if args.critic_overfitting is not None:
            overfitting = CriticOverfitting(**args.critic_overfitting)
            callbacks.append(overfitting)
            train_kwargs["datasplitter_kwargs"] = {"train_size": 0.9}
        start = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.train(
                max_steps=args.steps,
                max_time=None,
                accelerator="cpu",
                enable_progress_bar=False,
                enable_model_summary=False,
                callbacks=callbacks,
                **train_kwargs,
            )
        if adaptive is not None:
            print(f"{name} input-dropout rates: {json.dumps(adaptive.rates)}")
        if overfitting is not None:
            print(f"{name} critic overfitting (step, r, rate): {json.dumps(overfitting.trace)}")
        if "frechet_distance" in model.history:  # the realism monitor's own evaluations
            monitored = model.history["frechet_distance"].dropna()
            print(
                f"{name} monitor: "
                + json.dumps([round(float(v), 2) for v in monitored.iloc[:, 0]])
            )
        codes = model.get_latent_representation()[source_cells] if name == "MichiGAN" else None
        generator = model.module.sampling_generator
        for steps, cpu, state in snapshots.snapshots:
            generator.load_state_dict(state)
            if codes is None:
                cells = model.generate(n_samples=n_eval, seed=args.seed)
            else:
                cells = model.generate(codes=codes, seed=args.seed)
            row = {"dataset": args.dataset, "model": name, "step": steps, "cpu": cpu - start}
            dispersion = model.module.dispersion
            if overfitting is not None:
                trace = [entry for entry in overfitting.trace if entry[0] <= steps]
                if trace:
                    row["overfitting_r"], row["input_dropout_rate"] = trace[-1][1:]
            if adaptive is not None:
                rates = [rate for step, rate in adaptive.rates if step <= steps]
                row["input_dropout_rate"] = rates[-1] if rates else 0.0
            if dispersion is not None:
                row["dispersion_median"] = float(dispersion.median())
            if codes is not None:
                row |= noise_share(generator, codes, args.seed)
            row |= bg.score(real, np.asarray(cells.X), args.seed)
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = (
        args.out
        / f"{args.dataset}_seed{args.seed}{'_fixed' * args.fixed_dispersion}{args.tag}.csv"
    )
    pd.DataFrame(rows).to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
