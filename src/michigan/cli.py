"""The ``michigan`` command line: ``michigan demo``, ``michigan train``, ``michigan benchmark``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

#: The β-TCVAE's gene likelihoods (``michigan.module._tcvae.GENE_LIKELIHOODS``), repeated here
#: so that ``michigan --help`` does not import torch.
GENE_LIKELIHOOD_CHOICES = ("nb", "zinb", "poisson", "normal")

#: Minibatch size of ``michigan train``.
TRAIN_BATCH_SIZE = 256


class UsageError(Exception):
    """A mistake in the command's input: reported in one line, with exit code 2."""


def _check_h5ad_input(path: str) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise UsageError(f"input {file} does not exist")
    if not file.is_file():
        raise UsageError(f"input {file} is not a file; pass an .h5ad file")
    if file.suffix != ".h5ad":
        raise UsageError(f"input {file} must be an .h5ad file (AnnData written by write_h5ad)")
    return file


def _check_writable_folder(folder: Path, what: str) -> None:
    if not folder.is_dir():
        raise UsageError(f"{what}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{what}: folder {folder} is not writable")


def _check_train_paths(args: argparse.Namespace) -> tuple[Path, Path, Path | None]:
    """Check the input, output and model paths before anything is read or trained."""
    source = _check_h5ad_input(args.input)
    output = Path(args.output).expanduser()
    if output.suffix != ".h5ad":
        raise UsageError(f"output must be an .h5ad file, got {output}")
    if output.resolve() == source.resolve():
        raise UsageError(
            f"the output path is the input path ({output}); write to another file so that the "
            "input stays as it is"
        )
    if output.is_dir():
        raise UsageError(f"output {output} is a folder; pass a file name ending in .h5ad")
    _check_writable_folder(output.resolve().parent, "output")
    model_dir = None
    if args.save_model:
        model_dir = Path(args.save_model).expanduser()
        if model_dir.exists() and not model_dir.is_dir():
            raise UsageError(f"--save-model {model_dir} is a file; pass a folder name")
        if model_dir.resolve() in (source.resolve(), output.resolve()):
            raise UsageError(f"--save-model {model_dir} is the input or output file")
        _check_writable_folder(model_dir.resolve().parent, "--save-model")
    return source, output, model_dir


def _check_train_numbers(args: argparse.Namespace) -> None:
    if args.n_latent < 1:
        raise UsageError(f"--n-latent must be at least 1 (n_latent), got {args.n_latent}")
    if not args.beta >= 0 or args.beta == float("inf"):
        raise UsageError(f"--beta must be a finite number >= 0 (beta), got {args.beta}")
    if args.max_epochs is not None and args.max_epochs < 1:
        raise UsageError(f"--max-epochs must be at least 1 (max_epochs), got {args.max_epochs}")


def _demo(args: argparse.Namespace) -> None:
    for flag, value in (("--max-epochs", args.max_epochs), ("--gan-steps", args.gan_steps)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    from ._demo import run_demo

    print(f"michigan demo: training a β-TCVAE on pbmc68k_reduced ({args.max_epochs} epochs)")
    outputs = run_demo(
        out_dir=args.out,
        max_epochs=args.max_epochs,
        n_latent=args.n_latent,
        beta=args.beta,
        seed=args.seed,
        max_steps_gan=args.gan_steps,
    )
    print(f"wrote the AnnData (codes in .obsm, generated cells in .layers): {outputs.adata}")
    print(f"wrote the UMAP coloured by each latent:                         {outputs.umap}")
    for what, path in (
        ("the UMAP of real and generated cells:          ", outputs.generated_umap),
        ("a latent traversal:                            ", outputs.traversal),
        ("the report (open it in a browser):             ", outputs.report),
    ):
        if path is not None:
            print(f"wrote {what}{path}")


def _train(args: argparse.Namespace) -> None:
    source, output, model_dir = _check_train_paths(args)
    _check_train_numbers(args)

    import anndata
    import scvi

    from ._data_size import check_enough_cells
    from .model import TCVAE

    try:
        adata = anndata.read_h5ad(source)
    except Exception as error:  # h5py and anndata raise many types for a damaged file
        raise UsageError(f"input {source} is not a readable .h5ad file ({error})") from None
    scvi.settings.seed = args.seed
    try:
        TCVAE.setup_anndata(adata, layer=args.layer, batch_key=args.batch_key)
        model = TCVAE(
            adata, n_latent=args.n_latent, beta=args.beta, gene_likelihood=args.gene_likelihood
        )
        check_enough_cells(adata.n_obs, None, None, TRAIN_BATCH_SIZE)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    model.train(
        max_epochs=args.max_epochs, batch_size=TRAIN_BATCH_SIZE, accelerator=args.accelerator
    )
    adata.obsm["X_tcvae"] = model.get_latent_representation()
    adata.write_h5ad(output)
    print(f"wrote {output} with the representation in .obsm['X_tcvae']")
    if model_dir is not None:
        model.save(model_dir, overwrite=True)
        print(f"saved the model to {model_dir}")


def _benchmark(args: argparse.Namespace) -> None:
    from .benchmark import run, to_markdown

    results = run(
        preset=args.preset,
        methods=args.methods,
        seeds=args.seeds,
        out_dir=args.out,
        paper_sizes=args.paper_sizes,
        n_cells=args.n_cells,
        n_genes=args.n_genes,
        path=args.path,
        beta=args.beta,
        max_epochs_tcvae=args.max_epochs_tcvae,
        max_epochs_gan=args.max_epochs_gan,
        accelerator=args.accelerator,
        n_jobs=args.n_jobs,
    )
    print(to_markdown(results, title=args.preset))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``michigan`` command."""
    parser = argparse.ArgumentParser(
        prog="michigan",
        description="MichiGAN for the scverse: disentangled representations of cells.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the main job on built-in data")
    demo.add_argument("--out", default="michigan_demo", help="output folder")
    demo.add_argument("--max-epochs", type=int, default=100, help="β-TCVAE epochs")
    demo.add_argument(
        "--gan-steps", type=int, default=1500, help="generator steps of the GAN stage"
    )
    demo.add_argument("--n-latent", type=int, default=10)
    demo.add_argument("--beta", type=float, default=10.0, help="weight of the total correlation")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)

    train = commands.add_parser("train", help="train a β-TCVAE on an .h5ad file")
    train.add_argument("input", help="input .h5ad with raw counts")
    train.add_argument("output", help="output .h5ad (representation in .obsm['X_tcvae'])")
    train.add_argument("--layer", default=None, help="layer with the counts (default: X)")
    train.add_argument("--batch-key", default=None)
    train.add_argument(
        "--gene-likelihood",
        default="nb",
        choices=GENE_LIKELIHOOD_CHOICES,
        help="likelihood of the counts (default: nb; normal for processed data)",
    )
    train.add_argument("--n-latent", type=int, default=10)
    train.add_argument("--beta", type=float, default=10.0)
    train.add_argument("--max-epochs", type=int, default=None)
    train.add_argument("--accelerator", default="auto")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save-model", default=None, help="folder to save the model into")
    train.set_defaults(func=_train)

    bench = commands.add_parser(
        "benchmark", help="the paper's benchmark: methods × metrics × seeds on a data set"
    )
    bench.add_argument(
        "preset",
        help="splatter_linear, splatter_nonlinear, prosstt_3, prosstt_4, prosstt_5, pbmc68k, "
        "or kang (with --path)",
    )
    bench.add_argument("--methods", nargs="+", default=None, help="default: all")
    bench.add_argument(
        "--seeds", nargs="+", type=int, default=None, help="default: 0-4 (simulations)"
    )
    bench.add_argument("--out", default="benchmark_out", help="output folder")
    bench.add_argument(
        "--paper-sizes",
        action="store_true",
        help="10,000 cells × 2,000 genes and 1000 epochs per model (a GPU's work)",
    )
    bench.add_argument("--n-cells", type=int, default=None)
    bench.add_argument("--n-genes", type=int, default=None)
    bench.add_argument("--path", default=None, help="local .h5ad of a real data set")
    bench.add_argument("--beta", type=float, default=None, help="default: the preset's")
    bench.add_argument("--max-epochs-tcvae", type=int, default=None)
    bench.add_argument("--max-epochs-gan", type=int, default=None)
    bench.add_argument("--accelerator", default="auto")
    bench.add_argument("--n-jobs", type=int, default=None, help="random-forest jobs")
    bench.set_defaults(func=_benchmark)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``michigan`` command.

    A mistake in the input (a missing file, a bad value, an unwritable output) is found
    before any training and reported in one line on stderr, with exit code 2.

    Examples
    --------
    >>> main(["train", "cells.h5ad", "cells_tcvae.h5ad", "--max-epochs", "50"])
    """
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UsageError as error:
        print(f"michigan {args.command}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
