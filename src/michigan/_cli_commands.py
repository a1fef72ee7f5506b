"""What each ``michigan`` sub-command does, once its input has been checked.

Every function first checks the paths (:mod:`michigan._cli_checks`; the numbers and choices
were checked by the argument parser), then imports torch, scvi-tools and the models, so that
a mistake is reported at once and ``michigan --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

from ._cli_checks import (
    SAVED_ADATA_FILE,
    UsageError,
    h5ad_input,
    h5ad_output,
    model_folder,
    output_folder,
)

#: Minibatch size of the β-TCVAE in ``michigan train``.
TRAIN_BATCH_SIZE = 256
#: Generator steps of MichiGAN's GAN stage in ``michigan train``.
DEFAULT_GAN_STEPS = 1500
#: Generator steps of the GAN stage in ``michigan demo`` (see ``docs/benchmarks.md``: with the
#: current critic about 10 minutes for the whole demo on a busy 2-core machine, random-forest
#: error 0.46, every cell type reached; with the earlier narrow critic, 400 steps gave error
#: 0.25 and missed the 13 CD34+ cells).
DEMO_GAN_STEPS = 1200
#: Minibatch size of the GAN in ``michigan train --model michigan`` and ``michigan demo``.
GAN_BATCH_SIZE = 64
#: Models ``michigan generate`` can load (GANs) and ``michigan predict`` can load.
GENERATING_MODELS = ("MichiGAN", "WGANGP", "InfoWGANGP")
PREDICTING_MODELS = ("MichiGAN", "TCVAE")
#: The leave-one-out preset of ``michigan benchmark`` and the options only it takes.
KANG_LOO = "kang-loo"
LEAVE_ONE_OUT_OPTIONS = {"cell_types": "--cell-types", "seed": "--seed", "no_scgen": "--no-scgen"}
#: Options of the paper's presets that ``kang-loo`` does not take.
PAPER_BENCHMARK_OPTIONS = {
    "methods": "--methods",
    "seeds": "--seeds",
    "paper_sizes": "--paper-sizes",
    "n_cells": "--n-cells",
}
#: Loggers of Lightning's per-run messages ("GPU available: ...", "`Trainer.fit` stopped").
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


def quiet_training_logs(verbose: bool) -> None:
    """Hide Lightning's per-run messages and scvi-tools' info logs, or show them (``verbose``).

    Called after scvi-tools (and so Lightning) is imported: Lightning sets its own log level
    when it is imported. Progress bars and warnings about the user's data stay; Lightning's
    hints about data loaders and its own deprecations go with the messages.
    """
    import scvi
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    level = logging.INFO if verbose else logging.WARNING
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(level)
    scvi.settings.verbosity = level
    if not verbose:
        warnings.filterwarnings("ignore", category=PossibleUserWarning)
        # deprecations inside Lightning (e.g. of torch APIs it calls): nothing a user can do
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"lightning\.")


def _read_h5ad(path: Path, what: str = "input"):
    import anndata

    try:
        return anndata.read_h5ad(path)
    except Exception as error:  # h5py and anndata raise many types for a damaged file
        raise UsageError(f"{what} {path} is not a readable .h5ad file ({error})") from None


def demo(args: argparse.Namespace) -> None:
    """``michigan demo``: the main job on built-in data; prints every file it wrote."""
    out = output_folder(args.out, "--out")
    from ._demo import realism_reading, run_demo

    quiet_training_logs(args.verbose)
    print(
        f"michigan demo: a β-TCVAE ({args.max_epochs} epochs), then MichiGAN "
        f"({args.gan_steps} generator steps), on pbmc68k_reduced"
    )
    outputs = run_demo(
        out_dir=out,
        max_epochs=args.max_epochs,
        n_latent=args.n_latent,
        beta=args.beta,
        seed=args.seed,
        max_steps_gan=args.gan_steps,
    )
    for path, what in outputs.described():
        print(f"wrote {path}  ({what})")
    if outputs.rf_error is not None:
        print(
            f"random-forest error, real vs generated cells: {outputs.rf_error:.3f} "
            f"(0.5: indistinguishable): {realism_reading(outputs.rf_error)}"
        )


def train(args: argparse.Namespace) -> None:
    """``michigan train``: a β-TCVAE, or MichiGAN (β-TCVAE then GAN), on an .h5ad file."""
    source = h5ad_input(args.input)
    output = h5ad_output(args.output, inputs=(source,))
    model_dir = None
    if args.save_model:
        model_dir = output_folder(args.save_model, "--save-model")
        if model_dir.resolve() in (source.resolve(), output.resolve()):
            raise UsageError(f"--save-model {model_dir} is the input or output file")
    if args.model == "tcvae" and args.gan_steps is not None:
        raise UsageError("--gan-steps applies to --model michigan only; drop it or add that")
    adata = _read_h5ad(source)

    import scvi

    from ._data_size import check_enough_cells
    from .model import TCVAE, MichiGAN

    quiet_training_logs(args.verbose)
    scvi.settings.seed = args.seed
    tcvae_kwargs = {
        "n_latent": args.n_latent,
        "beta": args.beta,
        "gene_likelihood": args.gene_likelihood,
    }
    try:
        if args.model == "tcvae":
            TCVAE.setup_anndata(adata, layer=args.layer, batch_key=args.batch_key)
            model = TCVAE(adata, **tcvae_kwargs)
            check_enough_cells(adata.n_obs, None, None, TRAIN_BATCH_SIZE)
        else:
            MichiGAN.setup_anndata(adata, layer=args.layer, batch_key=args.batch_key)
            model = MichiGAN(adata, code_source=args.code_source, tcvae_kwargs=tcvae_kwargs)
            check_enough_cells(adata.n_obs, None, None, TRAIN_BATCH_SIZE)
            check_enough_cells(adata.n_obs, 1.0, None, GAN_BATCH_SIZE)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None

    if args.model == "tcvae":
        model.train(
            max_epochs=args.max_epochs, batch_size=TRAIN_BATCH_SIZE, accelerator=args.accelerator
        )
        key = "X_tcvae"
    else:
        model.train(
            max_steps=args.gan_steps or DEFAULT_GAN_STEPS,
            batch_size=GAN_BATCH_SIZE,
            max_epochs_tcvae=args.max_epochs,
            tcvae_train_kwargs={"batch_size": TRAIN_BATCH_SIZE},
            accelerator=args.accelerator,
        )
        key = "X_michigan"
    adata.obsm[key] = model.get_latent_representation()
    adata.write_h5ad(output)
    print(f"wrote {output}  (the representation in .obsm[{key!r}])")
    if model_dir is not None:
        model.save(str(model_dir), overwrite=True, save_anndata=True)
        print(f"wrote {model_dir}/  (the model and its training data: `michigan generate`)")


def _load_model(folder: Path, data_path: Path | None, allowed: tuple[str, ...], command: str):
    """The model saved in ``folder`` (its class read from the folder), on ``data_path``."""
    from scvi.model.base import BaseModelClass

    from . import model as models

    try:
        name = BaseModelClass.load_registry(str(folder)).get("model_name")
    except Exception as error:  # a damaged or foreign model.pt
        raise UsageError(f"model folder {folder} holds no readable model ({error})") from None
    if name not in allowed:
        raise UsageError(
            f"michigan {command} needs a {' or '.join(allowed)} model; {folder} holds a {name}"
        )
    adata = None if data_path is None else _read_h5ad(data_path, "--data")
    try:
        return getattr(models, name).load(str(folder), adata=adata)
    except ValueError as error:  # e.g. the data's genes are not the model's
        raise UsageError(str(error)) from None


def _model_input(args: argparse.Namespace) -> tuple[Path, Path | None, Path]:
    data = None if args.data is None else h5ad_input(args.data, "--data")
    folder = model_folder(args.model_dir, data)
    saved = folder / SAVED_ADATA_FILE
    inputs = (saved,) if data is None else (data, saved)
    return folder, data, h5ad_output(args.output, inputs=inputs)


def generate(args: argparse.Namespace) -> None:
    """``michigan generate``: cells from a saved GAN model, written as an .h5ad file."""
    folder, data, output = _model_input(args)
    if args.from_cells and args.n_cells is not None:
        raise UsageError("--from-cells makes one cell per cell of the data; drop --n-cells")

    import scvi

    quiet_training_logs(args.verbose)
    scvi.settings.seed = args.seed
    model = _load_model(folder, data, GENERATING_MODELS, "generate")
    try:
        if args.from_cells:
            cells = model.generate(adata=model.adata, seed=args.seed, counts=args.counts)
        else:
            cells = model.generate(n_samples=args.n_cells, seed=args.seed, counts=args.counts)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    cells.write_h5ad(output)
    print(f"wrote {output}  ({cells.n_obs:,} generated cells × {cells.n_vars:,} genes)")


def predict(args: argparse.Namespace) -> None:
    """``michigan predict``: cells of an unseen (cell type, perturbation), by latent arithmetic."""
    folder, data, output = _model_input(args)

    import scvi

    quiet_training_logs(args.verbose)
    scvi.settings.seed = args.seed
    model = _load_model(folder, data, PREDICTING_MODELS, "predict")
    try:
        cells = model.predict(
            cell_type_key=args.cell_type_key,
            perturbation_key=args.perturbation_key,
            target=tuple(args.target),
            control_cell_type=args.control_cell_type,
            control_perturbation=args.control_perturbation,
            arithmetic=args.arithmetic,
            code_source=args.code_source,
            n_cells=args.n_cells,
            seed=args.seed,
        )
    except (ValueError, TypeError, KeyError) as error:
        raise UsageError(str(error).strip("'\"")) from None
    cells.write_h5ad(output)
    print(f"wrote {output}  ({cells.n_obs:,} predicted cells of {tuple(args.target)})")


def benchmark(args: argparse.Namespace) -> None:
    """``michigan benchmark``: the paper's benchmark on a named data set, or ``kang-loo``."""
    out = output_folder(args.out, "--out")
    path = None if args.path is None else h5ad_input(args.path, "--path")
    if args.preset in ("kang", KANG_LOO) and path is None:
        raise UsageError(f"preset {args.preset} reads a local file: pass --path kang_pbmc.h5ad")
    _check_preset_options(args)
    if args.preset == KANG_LOO:
        _kang_leave_one_out(args, out, path)
        return
    from .benchmark import run, to_markdown

    quiet_training_logs(args.verbose)
    results = run(
        preset=args.preset,
        methods=args.methods,
        seeds=args.seeds,
        out_dir=out,
        paper_sizes=args.paper_sizes,
        n_cells=args.n_cells,
        n_genes=args.n_genes,
        path=path,
        beta=args.beta,
        max_epochs_tcvae=args.max_epochs_tcvae,
        max_epochs_gan=args.max_epochs_gan,
        accelerator=args.accelerator,
        n_jobs=args.n_jobs,
    )
    print(to_markdown(results, title=args.preset))


def _check_preset_options(args: argparse.Namespace) -> None:
    """Options of ``kang-loo`` with the paper's presets, or the other way round, are errors."""
    is_loo = args.preset == KANG_LOO
    wrong = PAPER_BENCHMARK_OPTIONS if is_loo else LEAVE_ONE_OUT_OPTIONS
    given = [option for dest, option in wrong.items() if getattr(args, dest) not in (None, False)]
    if given:
        applies = f"the presets other than {KANG_LOO}" if is_loo else f"preset {KANG_LOO} only"
        raise UsageError(f"{', '.join(given)} applies to {applies}; drop it")


def _kang_leave_one_out(args: argparse.Namespace, out: Path, path: Path) -> None:
    """``michigan benchmark kang-loo``: the leave-one-out prediction benchmark on Kang."""
    from .benchmark import LEAVE_ONE_OUT_METHODS, leave_one_out
    from .datasets import kang_pbmc

    quiet_training_logs(args.verbose)
    progress = logging.getLogger("michigan.benchmark")
    progress.setLevel(logging.INFO)
    if not progress.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"[{KANG_LOO}] %(message)s"))
        progress.addHandler(handler)
    try:
        adata = kang_pbmc(path)
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"--path {path} is not Kang's PBMC data ({error})") from None
    try:
        methods = [m for m in LEAVE_ONE_OUT_METHODS if not (args.no_scgen and m == "scGen")]
        optional = {
            "n_top_genes": args.n_genes,
            "beta": args.beta,
            "max_epochs_vae": args.max_epochs_tcvae,
            "max_epochs_gan": args.max_epochs_gan,
        }
        leave_one_out(
            adata,
            "cell_type",
            "condition",
            "control",
            "stimulated",
            out,
            cell_types=args.cell_types,
            methods=methods,
            n_jobs=args.n_jobs,
            accelerator=args.accelerator,
            prefix="kang_loo",
            seed=args.seed or 0,
            **{name: value for name, value in optional.items() if value is not None},
        )
    except (ValueError, TypeError, KeyError) as error:
        raise UsageError(str(error).strip("'\"")) from None
    print((out / "kang_loo.md").read_text(), end="")
    print(f"wrote {out}/  (kang_loo.csv, kang_loo.md, one reg-mean figure per held-out type)")
