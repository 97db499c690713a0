"""The `render` and `check` subcommands of `pizza-api`."""

import argparse
import sys
from pathlib import Path

from pizza_api.spec import spec_path


def register(subparsers) -> None:
    """Add `render` and `check` to the `pizza-api` subcommands."""
    spec_help = "OpenAPI file to read (default: PIZZA_API_SPEC, else openapi.yaml of the project)"

    render = subparsers.add_parser(
        "render", help="render manifests, env files and chart values from the spec"
    )
    render.add_argument("--spec", type=Path, help=spec_help)
    render.add_argument(
        "--output-dir",
        type=Path,
        help="directory to write generated/, charts/ and Dockerfile into "
        "(default: the spec's directory)",
    )
    render.set_defaults(run=cmd_render)

    check = subparsers.add_parser(
        "check",
        help="validate the spec, its handlers and the deployment block, and compare "
        "the rendered files with a fresh render",
    )
    check.add_argument("--spec", type=Path, help=spec_help)
    check.set_defaults(run=cmd_check)


def _spec(args: argparse.Namespace) -> Path:
    return (args.spec or spec_path()).resolve()


def cmd_render(args: argparse.Namespace) -> int:
    from pizza_api.deploy.model import DeploymentError
    from pizza_api.deploy.render import render

    try:
        files = render(_spec(args), args.output_dir)
    except DeploymentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    output_dir = args.output_dir or _spec(args).parent
    print(f"rendered {len(files)} files into {output_dir}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pizza_api.deploy.check import run_checks

    path = _spec(args)
    problems = run_checks(path)
    if problems:
        print(f"check failed for {path}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"check passed: {path}, its handlers and the rendered files agree")
    return 0
