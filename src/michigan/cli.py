"""The ``michigan`` command line: ``demo``, ``train``, ``generate``, ``predict``, ``benchmark``.

Parsing imports nothing heavy (torch, scvi-tools, scanpy load only when a command runs), so
``michigan --help`` is quick, and every value, choice and path is checked before anything is
trained: a mistake is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _cli_commands as commands
from ._cli_checks import UsageError, non_negative_float, non_negative_int, positive_int
from ._cli_commands import DEFAULT_GAN_STEPS, DEMO_GAN_STEPS

__all__ = ["UsageError", "build_parser", "main"]

#: The β-TCVAE's gene likelihoods (``michigan.module.GENE_LIKELIHOODS``), repeated here so
#: that parsing does not import torch (a test keeps the two equal).
GENE_LIKELIHOOD_CHOICES = ("nb", "zinb", "poisson", "normal")
#: MichiGAN's code sources (``michigan.module.CODE_SOURCES``).
CODE_SOURCE_CHOICES = ("mean", "sample")
#: Latent arithmetics of ``predict`` (``michigan.model._latent_arithmetic.ARITHMETICS``).
ARITHMETIC_CHOICES = ("cell_type", "perturbation")
#: Benchmark presets (``michigan.benchmark.PRESETS``) and methods (``METHODS``).
PRESET_CHOICES = (
    "splatter_linear",
    "splatter_nonlinear",
    "prosstt_3",
    "prosstt_4",
    "prosstt_5",
    "pbmc68k",
    "kang",
)
#: The leave-one-out prediction benchmark on Kang (``michigan.benchmark.leave_one_out``).
LEAVE_ONE_OUT_PRESET = "kang-loo"
METHOD_CHOICES = (
    "PPCA",
    "VAE",
    "beta-VAE",
    "beta-TCVAE",
    "GMM",
    "WGAN-GP",
    "InfoWGAN-GP",
    "ss-InfoWGAN-GP",
    "MichiGAN",
)


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Lightning's and scvi-tools' per-run messages (hidden by default)",
    )


def _add_model_input(parser: argparse.ArgumentParser, output_help: str) -> None:
    parser.add_argument("model_dir", help="folder of a saved model (michigan train --save-model)")
    parser.add_argument("output", help=output_help)
    parser.add_argument(
        "--data",
        default=None,
        help="AnnData (.h5ad) to load the model with (default: the one saved with the model)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0)


def _add_demo(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="run the main job on built-in data")
    demo.add_argument("--out", default="michigan_demo", help="output folder")
    demo.add_argument("--max-epochs", type=positive_int, default=100, help="β-TCVAE epochs")
    demo.add_argument(
        "--gan-steps",
        type=positive_int,
        default=DEMO_GAN_STEPS,
        help=f"generator steps of the GAN stage (default: {DEMO_GAN_STEPS})",
    )
    demo.add_argument("--n-latent", type=positive_int, default=10)
    demo.add_argument(
        "--beta", type=non_negative_float, default=10.0, help="weight of the total correlation"
    )
    demo.add_argument("--seed", type=non_negative_int, default=0)
    _add_verbose(demo)
    demo.set_defaults(func=commands.demo)


def _add_train(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a β-TCVAE or MichiGAN on an .h5ad file")
    train.add_argument("input", help="input .h5ad with raw counts")
    train.add_argument(
        "output",
        help="output .h5ad: the input with the representation in .obsm['X_tcvae'] "
        "(--model tcvae) or .obsm['X_michigan'] (--model michigan)",
    )
    train.add_argument(
        "--model",
        default="tcvae",
        choices=("tcvae", "michigan"),
        help="tcvae: a β-TCVAE; michigan: a β-TCVAE, then MichiGAN's GAN on its codes",
    )
    train.add_argument("--layer", default=None, help="layer with the counts (default: X)")
    train.add_argument("--batch-key", default=None, help="column of .obs with the batch")
    train.add_argument(
        "--gene-likelihood",
        default="nb",
        choices=GENE_LIKELIHOOD_CHOICES,
        help="likelihood of the counts (default: nb; normal for processed data)",
    )
    train.add_argument("--n-latent", type=positive_int, default=10)
    train.add_argument(
        "--beta", type=non_negative_float, default=10.0, help="weight of the total correlation"
    )
    train.add_argument(
        "--max-epochs",
        type=positive_int,
        default=None,
        help="β-TCVAE epochs (default: enough to read a million cells, 100 to 1000)",
    )
    train.add_argument(
        "--gan-steps",
        type=positive_int,
        default=None,
        help=f"--model michigan: generator steps of the GAN (default: {DEFAULT_GAN_STEPS})",
    )
    train.add_argument(
        "--code-source",
        default="mean",
        choices=CODE_SOURCE_CHOICES,
        help="--model michigan: condition the GAN on posterior means or on posterior samples",
    )
    train.add_argument("--accelerator", default="auto", help="auto, cpu, gpu, ...")
    train.add_argument("--seed", type=non_negative_int, default=0)
    train.add_argument(
        "--save-model",
        default=None,
        help="folder to save the model into, with its training data (for generate/predict)",
    )
    _add_verbose(train)
    train.set_defaults(func=commands.train)


def _add_generate(subparsers) -> None:
    generate = subparsers.add_parser(
        "generate", help="generate cells from a saved MichiGAN (or WGAN-GP) model"
    )
    _add_model_input(generate, "output .h5ad of generated cells (log-normalised in .X)")
    generate.add_argument(
        "--n-cells",
        type=positive_int,
        default=None,
        help="cells to generate, from codes of the training cells (default: one per cell)",
    )
    generate.add_argument(
        "--from-cells",
        action="store_true",
        help="generate one counterpart per cell of the data, from that cell's own code",
    )
    generate.add_argument(
        "--counts", action="store_true", help="also sample integer counts into .layers['counts']"
    )
    _add_verbose(generate)
    generate.set_defaults(func=commands.generate)


def _add_predict(subparsers) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="predict cells of an unseen (cell type, perturbation) by latent arithmetic",
    )
    _add_model_input(predict, "output .h5ad of predicted cells (log-normalised in .X)")
    predict.add_argument("--cell-type-key", required=True, help="column of .obs: cell type")
    predict.add_argument("--perturbation-key", required=True, help="column of .obs: perturbation")
    predict.add_argument(
        "--target",
        nargs=2,
        required=True,
        metavar=("CELL_TYPE", "PERTURBATION"),
        help="the combination to predict, e.g. --target CD4T stimulated",
    )
    predict.add_argument("--control-cell-type", default=None)
    predict.add_argument(
        "--arithmetic",
        default="cell_type",
        choices=ARITHMETIC_CHOICES,
        help="cell_type (the paper's) or perturbation (scGen's)",
    )
    predict.add_argument(
        "--control-perturbation", default=None, help="with --arithmetic perturbation"
    )
    predict.add_argument("--code-source", default="sample", choices=CODE_SOURCE_CHOICES)
    predict.add_argument(
        "--n-cells", type=positive_int, default=None, help="default: one per control cell"
    )
    _add_verbose(predict)
    predict.set_defaults(func=commands.predict)


def _add_benchmark(subparsers) -> None:
    bench = subparsers.add_parser(
        "benchmark", help="the paper's benchmark: methods × metrics × seeds on a data set"
    )
    bench.add_argument(
        "preset",
        choices=(*PRESET_CHOICES, LEAVE_ONE_OUT_PRESET),
        help="the data set (kang: with --path); kang-loo: the leave-one-out prediction "
        "benchmark on Kang (with --path): each cell type's stimulated cells held out in turn",
    )
    bench.add_argument(
        "--methods", nargs="+", default=None, choices=METHOD_CHOICES, help="default: all"
    )
    bench.add_argument(
        "--seeds",
        nargs="+",
        type=non_negative_int,
        default=None,
        help="default: 0-4 (simulations)",
    )
    bench.add_argument("--out", default="benchmark_out", help="output folder")
    bench.add_argument(
        "--paper-sizes",
        action="store_true",
        help="10,000 cells × 2,000 genes and 1000 epochs per model (a GPU's work)",
    )
    bench.add_argument("--n-cells", type=positive_int, default=None)
    bench.add_argument(
        "--n-genes", type=positive_int, default=None, help="kang-loo: HVGs kept (default: 2000)"
    )
    bench.add_argument("--path", default=None, help="local .h5ad of a real data set")
    bench.add_argument(
        "--beta", type=non_negative_float, default=None, help="default: the preset's"
    )
    bench.add_argument(
        "--max-epochs-tcvae",
        "--epochs-vae",
        type=positive_int,
        default=None,
        help="epochs of each VAE (default: the β-TCVAE's for the number of cells, 200 at "
        "5,000; kang-loo: of the β-TCVAE and the VAE, default 100)",
    )
    bench.add_argument(
        "--max-epochs-gan",
        "--epochs-gan",
        type=positive_int,
        default=None,
        help="epochs of each GAN (kang-loo: of MichiGAN's, about 13 generator steps each; "
        "default 100)",
    )
    bench.add_argument(
        "--cell-types", nargs="+", default=None, help="kang-loo: types to hold out (default: all)"
    )
    bench.add_argument(
        "--seed", type=non_negative_int, default=None, help="kang-loo: seed (default: 0)"
    )
    bench.add_argument(
        "--no-scgen", action="store_true", help="kang-loo: skip scGen even if pertpy imports"
    )
    bench.add_argument("--accelerator", default="auto")
    bench.add_argument("--n-jobs", type=int, default=None, help="random-forest jobs")
    _add_verbose(bench)
    bench.set_defaults(func=commands.benchmark)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``michigan`` command.

    Examples
    --------
    >>> args = build_parser().parse_args(["demo", "--gan-steps", "500"])
    >>> args.gan_steps
    500
    """
    parser = _OneLineParser(
        prog="michigan",
        description="MichiGAN for the scverse: disentangled representations of cells, and "
        "realistic cells generated from them.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_demo, _add_train, _add_generate, _add_predict, _add_benchmark):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``michigan`` command.

    A mistake in the input (a missing file, a bad value, an unwritable output) is found
    before any training and reported in one line on stderr, with exit code 2.

    Examples
    --------
    >>> main(["train", "cells.h5ad", "cells_tcvae.h5ad", "--max-epochs", "50"])
    >>> main(["train", "cells.h5ad", "out.h5ad", "--model", "michigan", "--save-model", "m/"])
    >>> main(["generate", "m/", "generated.h5ad", "--n-cells", "3000"])
    """
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UsageError as error:
        print(f"michigan {args.command}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
