"""The ``scmf`` command line (thin: it parses arguments and calls the Python API)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    import scmf
    from scmf._io import write_atomic, write_h5ad

    out = Path(args.output)
    adata = scmf.datasets.pbmc68k()
    print(f"pbmc68k_reduced: {adata.n_obs} cells x {adata.n_vars} genes, labels in obs['bulk_labels']")
    scmf.tl.baselines(adata, n_comps=50, seed=args.seed)
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.bm.linear_probe(
        adata, "bulk_labels", use_rep=reps, n_splits=5, seed=args.seed, dataset_name="pbmc68k"
    )
    scmf.bm.embedding_quality(adata, "bulk_labels", batch_key=None, use_rep=reps, dataset_name="pbmc68k")
    table = scmf.bm.results(adata)
    wide = table.pivot_table(index=["benchmark", "metric"], columns="rep", values="value", sort=False)
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(wide.to_string())
    out.mkdir(parents=True, exist_ok=True)
    h5 = out / "pbmc68k_evaluated.h5ad"
    write_h5ad(h5, adata)
    scmf.bm.to_json(adata, out / "results.json")
    import matplotlib

    matplotlib.use("agg")
    fig = scmf.pl.results_table(adata, return_fig=True)
    write_atomic(
        out / "results_table.png", lambda tmp: fig.savefig(tmp, dpi=120, format="png"), suffix=".png.tmp"
    )
    scmf.report({"pbmc68k": adata}, out / "report.html", title="scmf demo: baselines on pbmc68k_reduced")
    print(f"wrote {h5}, {out / 'results.json'}, {out / 'results_table.png'} and {out / 'report.html'}")
    return 0


class CliError(Exception):
    """An error whose message is all the user needs (exit code carried along)."""

    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.code = code


def _report(args: argparse.Namespace) -> int:
    import scmf

    out = Path(args.output)
    inputs = {Path(f).resolve(): f for f in args.files}
    if out.resolve() in inputs:
        raise CliError(
            f"--output {out} would replace the input {inputs[out.resolve()]}; write the report elsewhere."
        )
    path = scmf.report(
        list(args.files),
        out,
        baseline=args.baseline,
        title=args.title,
        across_sources=args.across_sources,
        max_figures=args.max_figures,
        figure_format=args.figure_format,
    )
    print(f"wrote {path}")
    return 0


def _random_model(args: argparse.Namespace) -> int:
    import scmf

    genes = None
    if args.genes_from is not None:
        import anndata as ad

        genes = ad.read_h5ad(args.genes_from, backed="r").var_names
    path = scmf.models.random_release(args.format, args.folder, genes=genes, seed=args.seed)
    print(
        f"wrote a random-weight {args.format} release to {path} (meaningless embeddings: for testing a pipeline)"
    )
    return 0


def _keep_earlier_results(target: Path, adata) -> int:
    """Copy into ``adata`` the results an existing ``target`` file holds that this run did not
    recompute (as storing into ``uns`` keeps other entries); their number."""
    if not target.exists():
        return 0
    import anndata as ad

    from scmf import _store

    try:
        earlier = ad.read_h5ad(target, backed="r")
    except Exception as e:
        raise CliError(
            f"--write-h5ad: {target} exists and is not readable as .h5ad ({e}); --overwrite replaces it."
        ) from None
    try:
        have = {(r.benchmark, r.dataset, r.rep) for r in _store.iter_results(adata)}
        keep = [r for r in _store.iter_results(earlier) if (r.benchmark, r.dataset, r.rep) not in have]
    finally:
        earlier.file.close()
    if keep:
        _store.write(adata, keep)
    return len(keep)


def _outputs_are_not_inputs(
    output: Path, write_h5ad: str | None, datasets: dict, config, report: str | None = None
) -> None:
    """Refuse, before any work, an output that would replace an input (paths resolved: links and
    ``..`` do not hide it)."""
    inputs = {Path(p).resolve(): f"--data {p}" for p in datasets.values()}
    if config is not None and isinstance(config, str | Path):
        inputs[Path(config).resolve()] = f"--config {config}"
    if write_h5ad is not None and Path(write_h5ad).exists() and not Path(write_h5ad).is_dir():
        raise CliError(
            f"--write-h5ad names a folder to write the evaluated files into; {write_h5ad} is a file."
        )
    planned = [(output.resolve(), f"--output {output}")]
    if report is not None:
        planned.append((Path(report).resolve(), f"--report {report}"))
    if write_h5ad is not None:
        for name in datasets:
            target = Path(write_h5ad) / f"{name}.h5ad"
            planned.append((target.resolve(), f"--write-h5ad {write_h5ad} (writes {target})"))
    writes: dict[Path, str] = {}
    for path, what in planned:  # the outputs of one run never name each other
        if path in writes:
            raise CliError(f"{what} and {writes[path]} name the same file ({path}); give each its own.")
        writes[path] = what
    for path, what in writes.items():
        if path in inputs:
            raise CliError(
                f"{what} would replace the input {inputs[path]} ({path}); write the results elsewhere."
            )


def _benchmark(args: argparse.Namespace) -> int:
    import scmf
    from scmf._io import all_or_nothing, write_h5ad
    from scmf.bm import as_datasets, read_dataset

    # everything is checked before any data is read or any model runs
    cfg = scmf.bm.load_config(
        args.config, confine=args.confine_paths
    )  # names, parameters, every file it names
    model = args.model
    if model is None and not args.use_rep:
        raise CliError(
            "give --model (a checkpoint directory, pca or random) or --use-rep (embeddings in obsm)."
        )
    if model is not None and model not in scmf.models.BASELINES and not Path(model).exists():
        raise CliError(
            f"--model {model!r} is neither a baseline ({', '.join(scmf.models.BASELINES)}) nor a checkpoint directory."
        )
    data = args.data or [str(d.path) for d in cfg.datasets.values() if d.path is not None]
    if not data:
        raise CliError(
            "give --data (repeat for several files) or list the files under datasets: in the config."
        )
    for d in data:
        if not Path(d).exists():
            raise CliError(f"--data {d!r} does not exist.")
    out = Path(args.output)
    if not out.parent.exists():
        raise CliError(f"the folder of --output ({str(out.parent)!r}) does not exist.")
    _outputs_are_not_inputs(out, args.write_h5ad, as_datasets(data), args.config, args.report)
    if out.resolve().exists() and not out.resolve().is_file():
        raise CliError(f"--output {out} is not a regular file (a folder, FIFO or device); give a file path.")
    if out.exists() and not args.overwrite:
        from scmf._store import earlier_records

        try:
            earlier_records(out)  # results are merged into it: it must be a results file
        except ValueError as e:
            raise CliError(f"--output: {e} (--overwrite replaces it)") from None
    model_kw = _model_options(args)
    seed = model_kw.pop("seed", None)
    if seed is not None and args.seed is not None and int(seed) != args.seed:
        raise CliError(f"two seeds: --seed {args.seed} and --model-option seed={seed}; give one.")
    seed = int(args.seed if args.seed is not None else seed if seed is not None else 0)
    if model_kw and (model is None or model in scmf.models.BASELINES):
        raise CliError(
            "model options (--vocab/--pooling/--hidden-layer/--model-option) apply to checkpoint directories, "
            "not to baselines."
        )
    if args.trust_model:
        fmt = None if model is None or model in scmf.models.BASELINES else _format_of(model)
        if fmt is None or fmt.name != "external":
            raise CliError("--trust-model is for a --model folder with a scmf_external.yaml.")
        model_kw["trust"] = True
    if model is not None:
        fmt = _format_of(model)
        try:
            model = scmf.models.resolve(model, seed=seed, **model_kw)  # once: every dataset, every route
        except TypeError:
            takes = f" (it takes: {fmt.options})" if fmt is not None and fmt.options else ""
            raise CliError(
                f"the {fmt.name if fmt else 'checkpoint'} format does not take {sorted(model_kw)}{takes}."
            ) from None
    client = None
    if args.scheduler:
        if model is None:
            raise CliError("--scheduler is for the embedding step: give --model.")
        try:
            from distributed import Client

            from scmf.datasets import read_lazy
        except ImportError:
            raise CliError("--scheduler needs dask: pip install 'scmf[dask]'.") from None
        datasets = as_datasets(data)  # paths: the workers read them lazily for the embedding
        for path in datasets.values():
            try:
                read_lazy(path)  # obs and var only: the file is readable
            except (OSError, KeyError, ValueError) as e:
                raise CliError(f"could not read {path!r} lazily: {e}") from None
        try:
            client = Client(args.scheduler, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise CliError(f"could not connect to the dask scheduler at {args.scheduler!r}: {e}") from None
    else:
        # read up front: an unreadable file is bad input (exit 1), not a recorded benchmark failure
        datasets = {name: read_dataset(path) for name, path in as_datasets(data).items()}
        if args.use_rep:
            for name, adata in datasets.items():
                missing = [r for r in args.use_rep if r not in adata.obsm]
                if missing:
                    raise CliError(
                        f"--use-rep {missing} not in obsm of {name!r}; it has {sorted(adata.obsm.keys())}."
                    )
    try:
        report = scmf.bm.evaluate(
            datasets,
            cfg,
            model=model,
            use_rep=args.use_rep or None,
            baselines=[b.strip() for b in args.baselines.split(",") if b.strip()]
            if args.baselines
            else False,
            batch_key=args.batch_key,
            batch_size=args.batch_size,
            device=args.device,
            input_scale=args.input_scale,
            gene_key=args.gene_key,
            client=client,
            seed=seed,
            key_added=_representation_key(args, cfg),
        )
    finally:
        if client is not None:
            client.close()
    if not report.datasets:
        raise CliError("no dataset could be evaluated: " + "; ".join(report.failures["error"]))
    written = []
    with all_or_nothing():  # every output is renamed into place at the end, or none is
        kept = report.to_json(out, merge=not args.overwrite)
        also = f"; kept {kept} earlier record(s) it held (--overwrite replaces the file)" if kept else ""
        written.append(f"wrote {out} ({len(report.results())} values{also})")
        if args.write_h5ad:
            folder = Path(args.write_h5ad)
            folder.mkdir(parents=True, exist_ok=True)
            for name, adata in report.datasets.items():
                target = folder / f"{name}.h5ad"
                kept = 0 if args.overwrite else _keep_earlier_results(target, adata)
                write_h5ad(target, adata)
                written.append(
                    f"wrote {target}" + (f" (kept {kept} earlier result(s) it held)" if kept else "")
                )
        if args.report:
            scmf.report(dict(report.datasets), args.report)
            written.append(f"wrote {args.report}")
    _print_results(report)
    print("\n".join(written))
    if len(report.failures):
        n = len(report.failures)
        print(
            f"scmf benchmark: {n} benchmark run(s) failed; their errors are in {out} (records with 'error').",
            file=sys.stderr,
        )
        return 3
    return 0


def _print_results(report) -> None:
    """One table per dataset: (benchmark, metric) rows, one column per representation."""
    import pandas as pd

    import scmf
    from scmf._keys import BENCH_KEY

    for name, adata in report.datasets.items():
        if BENCH_KEY not in adata.uns:
            continue
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            print(f"\n{name}")
            print(scmf.bm.summary(adata).to_string())
    print()


def _model_options(args: argparse.Namespace) -> dict:
    """``--vocab/--pooling/--hidden-layer`` and every ``--model-option KEY=VALUE`` (values read as YAML)."""
    import yaml

    kw: dict = {}
    for flag in ("vocab", "pooling", "hidden_layer"):
        value = getattr(args, flag)
        if value is not None:
            kw[flag] = value
    for item in args.model_option:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise CliError(f"--model-option takes KEY=VALUE (e.g. seed=3, max_length=1200), got {item!r}.")
        try:
            kw[key] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            kw[key] = value
    return kw


def _representation_key(args: argparse.Namespace, cfg) -> str:
    """The obsm key of the model's embedding: ``--name``, else the config's ``model_name:``, else
    named after the model, so that two models evaluated into two files stay two models when
    their results are read together."""
    import re

    from scmf._keys import BASELINES, baseline_key

    if args.name is not None:
        name = args.name
    elif cfg.model_name is not None:
        name = cfg.model_name
    elif args.model in BASELINES:
        return baseline_key(args.model)
    elif args.model is not None:
        name = Path(args.model).resolve().name
    else:
        return "X_scmf"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_") or "model"
    return name if name.startswith("X_") else f"X_{name}"


def _format_of(path: str):
    import scmf

    p = Path(path)
    for fmt in scmf.models.format_info():
        try:
            if p.is_dir() and fmt.detector()(p):
                return fmt
        except OSError:
            continue
    return None


def _list(args: argparse.Namespace) -> int:
    import scmf

    print("benchmarks:")
    for name, spec in sorted(scmf.bm.benchmarks().items()):
        print(f"  {name:20s} params: {', '.join(spec.params)}")
    print('  cz-benchmarks tasks (pip install "scmf[cz]"), each equal to cz\'s own:')
    for name, (task, reads, base) in scmf.bm.CZ_TASKS.items():
        print(f"    {name}: {task}; reads {reads}; baseline: {base}")
    print("models:")
    print(f"  baselines: {', '.join(scmf.models.BASELINES)}")
    print("  checkpoint formats (scmf.models.load / --model DIR; weights are never downloaded by scmf):")
    for fmt in scmf.models.format_info():
        print(f"    {fmt.name}")
        for label, text in (
            ("files", fmt.files),
            ("options", fmt.options),
            ("paper", fmt.paper),
            ("weights", fmt.weights),
        ):
            if text:
                print(f"      {label + ':':9s}{text}")
    print("  models in their own environment (scmf_external.yaml: recipe: NAME, or command:):")
    for name, rec in sorted(scmf.models.RECIPES.items()):
        print(
            f"    {name:9s}files: {', '.join(rec.files)}; options: {', '.join(f'{k}={v}' for k, v in rec.options.items())}"
        )
        print(f"      {rec.notes}")
    print("datasets:")
    for name, entry in scmf.datasets.registry().items():
        print(f"  {name:32s} {entry.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="scmf", description="Evaluate single-cell foundation models on AnnData."
    )
    parser.add_argument("--version", action="version", version=f"scmf {__version__}")
    parser.add_argument("--verbose", action="store_true", help="log progress and show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="baselines + benchmarks on scanpy's pbmc68k_reduced")
    demo.add_argument("--output", default="scmf_demo_output", help="folder for the evaluated .h5ad and JSON")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)

    bench = sub.add_parser("benchmark", help="run the benchmarks of an eval config on .h5ad files")
    bench.add_argument("--config", required=True, help="YAML with the evaluation guide's eval: block")
    bench.add_argument(
        "--model", default=None, help="checkpoint directory, or a baseline: pca, random (or use --use-rep)"
    )
    bench.add_argument(
        "--use-rep",
        action="append",
        default=[],
        metavar="OBSM_KEY",
        help="benchmark embeddings already in obsm (repeat for several; beside --model's if given)",
    )
    bench.add_argument(
        "--data",
        action="append",
        default=[],
        help=".h5ad file (repeat for several; default: the config's datasets with a path)",
    )
    bench.add_argument("--output", required=True, help="results JSON (written atomically)")
    bench.add_argument("--write-h5ad", metavar="DIR", help="also write each dataset with its results in uns")
    bench.add_argument(
        "--report", metavar="HTML", help="also write an HTML report of the results (see scmf report)"
    )
    bench.add_argument(
        "--confine-paths",
        action="store_true",
        help="refuse files the config names outside its own folder (for configs written by others)",
    )
    bench.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing --output / --write-h5ad files (default: keep the results they hold that this run "
        "does not recompute)",
    )
    bench.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, mps")
    bench.add_argument(
        "--batch-size", type=int, default=None, help="cells per forward pass (default: config)"
    )
    bench.add_argument(
        "--baselines",
        nargs="?",
        const="pca,random",
        default=None,
        metavar="NAMES",
        help="also benchmark baselines: alone, PCA and random; or a comma list of pca, random, hvg, harmony, scvi",
    )
    bench.add_argument(
        "--batch-key",
        default=None,
        help="obs column of the batches for the harmony and scvi baselines (default: the config's datasets: batch_key)",
    )
    bench.add_argument(
        "--input-scale",
        default="auto",
        choices=["auto", "counts", "log1p"],
        help="what X holds (tokenised models)",
    )
    bench.add_argument(
        "--gene-key", default=None, help="var column with the gene names to match (default: var_names)"
    )
    bench.add_argument(
        "--vocab",
        default=None,
        help="gene vocabulary file of the checkpoint (Geneformer TSV/.pkl, scGPT vocab.json)",
    )
    bench.add_argument(
        "--trust-model",
        action="store_true",
        help="let the --model folder's scmf_external.yaml run its own command, interpreter or requirements "
        "(only for a folder you trust; scmf refuses and shows what would run otherwise)",
    )
    bench.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the checkpoint's loader, e.g. seed=3 or max_length=600 (repeat; `scmf list` shows each format's)",
    )
    bench.add_argument(
        "--name",
        default=None,
        help="name of the model's representation: obsm key X_NAME (default: the checkpoint folder's name; "
        "X_pca_baseline / X_random_baseline for --model pca / random)",
    )
    bench.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the baselines and of a checkpoint whose recipe samples, e.g. scGPT, UCE (default 0)",
    )
    bench.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="embed on a running dask.distributed scheduler (e.g. tcp://10.0.0.1:8786); files are read lazily by its workers",
    )
    bench.add_argument("--pooling", default=None, help="cell pooling of the checkpoint (e.g. mean, cls)")
    bench.add_argument(
        "--hidden-layer", type=int, default=None, help="hidden state to pool (formats that take hidden_layer)"
    )
    bench.set_defaults(func=_benchmark)

    rnd = sub.add_parser(
        "random-model",
        help="write a tiny random-weight model in a published checkpoint layout (to test a pipeline)",
    )
    rnd.add_argument("format", help="checkpoint format (scmf list shows them)")
    rnd.add_argument("folder", help="folder to create")
    rnd.add_argument(
        "--genes-from",
        metavar="H5AD",
        default=None,
        help="use the var_names of this .h5ad as the model's genes (default: scanpy's pbmc68k_reduced)",
    )
    rnd.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    rnd.set_defaults(func=_random_model)

    rep = sub.add_parser(
        "report", help="one self-contained HTML report of evaluated .h5ad / .zarr / JSON files"
    )
    rep.add_argument("files", nargs="+", help="evaluated files (results in uns['scmf_bench'], or scmf JSON)")
    rep.add_argument("--output", default="report.html", help="HTML file to write (default: report.html)")
    rep.add_argument(
        "--baseline",
        default=None,
        help="representation to compare every other one with (default: X_pca_baseline)",
    )
    rep.add_argument("--title", default=None, help="page title")
    rep.add_argument(
        "--across-sources",
        action="store_true",
        help="files that hold the same dataset: set their representations against each other (default: apart)",
    )
    rep.add_argument(
        "--max-figures", type=int, default=3, help="per-representation figures per section (default: 3)"
    )
    rep.add_argument(
        "--figure-format", choices=["png", "svg"], default="png", help="how figures are embedded"
    )
    rep.set_defaults(func=_report)

    lst = sub.add_parser("list", help="show benchmarks, model formats and datasets")
    lst.set_defaults(func=_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    import warnings

    from scmf._warnings import printable

    shown: set[str] = set()

    def one_line(message, category, filename, lineno, file=None, line=None) -> None:
        """A warning as the command's own line, each text once (not a source path and line)."""
        text = printable(str(message))  # labels from the data never reach the terminal raw
        if text in shown:
            return
        shown.add(text)
        kind = "warning" if category.__name__ in ("ScmfWarning", "UserWarning") else category.__name__
        print(f"scmf {args.command}: {kind}: {text}", file=sys.stderr if file is None else file)

    try:
        with warnings.catch_warnings():
            if not args.verbose:
                warnings.showwarning = one_line
            return args.func(args)
    except Exception as e:  # one clear line unless asked for the traceback
        if args.verbose:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"scmf {args.command}: error: {printable(msg)}", file=sys.stderr)
        return e.code if isinstance(e, CliError) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
