"""``verify regularizer``: check a regularizer on a built-in task or on your own model and batch."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from verify.cli._common import exit_status, float_list, positive_float, positive_int, save_outputs_or_partial
from verify.errors import InvalidInputError

__all__ = ["add_regularizer_parser", "run_regularizer"]


def add_regularizer_parser(sub: Any) -> None:
    p = sub.add_parser("regularizer", help="check a new regularizer: gradient, smoothness, safe steps, constraint, "
                                            "effect on curvature, on a built-in task or your own model")
    p.add_argument("name", metavar="FN", help="FILE.py::FN, package.module:FN, or a built-in example (l2, l1, "
                                              "max_norm, input_gradient_penalty, …; see the README)")
    lam = p.add_mutually_exclusive_group()
    lam.add_argument("--lam", type=float, default=None,
                     help="regularization strength λ (default 0.01; with --lams, the middle of the grid)")
    lam.add_argument("--lams", default=None, metavar="A,B,…", help="a grid of λ values (comma separated)")
    p.add_argument("--task", default=None, metavar="NAME",
                   help="a built-in model and batch: mlp (default; a small MLP), softmax (softmax regression), cnn "
                        "(a conv net), resnet (residual blocks with LayerNorm), attention (a self-attention block)")
    p.add_argument("--model", default=None, metavar="FILE.py::NAME",
                   help="your model: a function returning an nn.Module (called with no arguments, under --seed) "
                        "or a module instance; also package.module:NAME. Needs --data")
    p.add_argument("--data", default=None, metavar="FILE.py::NAME",
                   help="your batch: a function returning (X, y) or the tuple itself, examples along dimension 0")
    p.add_argument("--loss", default=None, metavar="NAME",
                   help="cross-entropy, mse, or FILE.py::FN (fn(output, y) -> 0-dim tensor, mean over examples); "
                        "default cross-entropy for integer y, mse for float y")
    p.add_argument("--train-mode", action="store_true",
                   help="keep your model in train mode (BatchNorm batch statistics, dropout with a fixed seed); "
                        "default eval mode")
    p.add_argument("--grad", default=None, metavar="FN",
                   help="your analytic gradient of the regularizer (FILE.py::FN), checked against autograd")
    p.add_argument("--hvp", default=None, metavar="FN",
                   help="your Hessian-vector product of the regularizer (FILE.py::FN), checked against autograd")
    p.add_argument("--checks", default=None, metavar="A,B,…",
                   help="run only these checks (well-formed, gradient, smoothness, descent, constraint, "
                        "curvature-effect)")
    p.add_argument("--strict", action="store_true",
                   help="inconclusive and not-applicable checks fail the exit status too")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="SECONDS",
                   help="per check: a check past it ends inconclusive, naming the steps it finished")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="write the report card as JSON")
    p.add_argument("--out", default=None, metavar="DIR", help="write the report card as an HTML page")


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    from verify.regularizers import load_object

    if args.model is None and args.data is None:
        if args.loss is not None or args.train_mode:
            raise InvalidInputError("--loss and --train-mode apply to your own model: give --model and --data too.")
        return {"task": args.task}
    if args.model is None or args.data is None:
        raise InvalidInputError(f"Got {'--model' if args.data is None else '--data'} without "
                                f"{'--data' if args.data is None else '--model'}: your own model needs both, "
                                "e.g. --model my_model.py::build --data my_data.py::batch.")
    if args.task is not None:
        raise InvalidInputError("Give --task or --model/--data, not both: --task names a built-in model and batch.")
    options: dict[str, Any] = {"model": load_object(args.model, "--model", callable_only=False),
                               "batch": load_object(args.data, "--data", callable_only=False),
                               "train_mode": args.train_mode}
    if args.loss is not None:
        named = args.loss in ("cross-entropy", "mse")
        if not named and ":" not in args.loss:
            raise InvalidInputError(f"Got --loss {args.loss!r}; give cross-entropy, mse, or your function as "
                                    "FILE.py::FN or package.module:FN (fn(output, y) -> 0-dim tensor).")
        options["loss"] = args.loss if named else load_object(args.loss, "--loss")
    return options


def run_regularizer(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from verify.regularizers import check_regularizer, load_regularizer
    from verify.report.outputs import check_output_file, check_output_folder, received_signal

    check_output_file(args.json_path, "--json")
    check_output_folder(args.out)
    fn = load_regularizer(args.name)
    options: dict[str, Any] = {"device": args.device, "dtype": args.dtype, "seed": args.seed, "name": args.name,
                               "strict": args.strict, "time_limit": args.time_limit, "threads": args.threads,
                               **_model_options(args)}
    if args.lam is not None:
        options["lam"] = args.lam
    if args.lams is not None:
        options["lams"] = float_list(args.lams, "--lams")
    if args.grad:
        options["grad"] = load_regularizer(args.grad)
    if args.hvp:
        options["hvp"] = load_regularizer(args.hvp)
    if args.checks is not None:
        options["checks"] = [c.strip() for c in args.checks.split(",") if c.strip()]
    if not args.quiet:
        options["progress"] = lambda line: (err.write(f"  {line}\n"), err.flush())
    from verify.numeric import set_torch_threads

    set_torch_threads(args.threads)
    err.write(f"checking regularizer {args.name} …\n")
    specs = {"model_spec": args.model, "data_spec": args.data, "loss_spec": args.loss}
    try:
        card = check_regularizer(fn, **options)
        card.settings.update({k: v for k, v in specs.items() if v})  # the re-run command names them
    except KeyboardInterrupt as exc:  # the checks that finished go to the .partial outputs
        partial = getattr(exc, "partial_card", None)
        if partial is not None and partial.checks:
            save_outputs_or_partial(partial, received_signal(exc), err, json_path=args.json_path,
                                    report_dir=args.out)
        raise
    stop = received_signal()
    written = save_outputs_or_partial(card, stop, err, json_path=args.json_path, report_dir=args.out)
    for v in card.checks:
        mark = "ok " if v.matches_expectation else ("-- " if v in card.undecided and not card.strict else "BAD")
        out.write(f"{mark} {v.claim:<18} {v.verdict.value:<14} {v.message}\n")
    out.write(f"\n{card.summary}\n")
    if args.out:
        out.write(f"report: {written[-1]}\n")
    passed = sum(v.matches_expectation for v in card.checks)
    undecided = f", {len(card.undecided)} inconclusive or not applicable" if card.undecided else ""
    out.write(f"{passed} of {len(card.checks)} checks passed{undecided}"
              f"{' (strict: they fail)' if card.undecided and card.strict else ''}\n")
    return exit_status(card.passed, stop)
