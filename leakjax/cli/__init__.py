"""The ``leakjax`` command.

``leakjax attack``           one attack on embedded data, a tfds set or image files: a single-cell
                             sweep run into OUT/store.sqlite (resumable), then results.json,
                             grid.png and a table, all read from the store
``leakjax demo``             the README's main job: iDLG and DLG on a few embedded photos
``leakjax sweep CONFIG``     a sweep file into a store (``--dry-run`` prints the plan)
``leakjax export STORE``     a store's runs as CSV
``leakjax report STORE``     the HTML report of a store
``leakjax train-generator``  a GGL generator on a public split

Errors are printed as ``leakjax <command>: error: <message>`` (exit code 2); Ctrl-C prints one
line saying how many runs were kept (exit code 130) and the same command resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from leakjax.cli.common import CLIError, HelpFormatter


def build_parser() -> argparse.ArgumentParser:
    from leakjax.cli import attack, sweep_cmds
    from leakjax.generative.cli_commands import add_train_generator_arguments, cmd_train_generator

    p = argparse.ArgumentParser(
        prog="leakjax",
        description="Gradient-leakage attacks and defenses for federated learning, in JAX.",
        formatter_class=HelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help, func, add_args, **kw):
        s = sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter, **kw)
        add_args(s)
        s.set_defaults(func=func)
        return s

    add(
        "attack",
        "run one attack on victims x seeds into OUT/store.sqlite (resumable); write "
        "results.json, grid.png and a table from the store",
        attack.cmd_attack,
        attack.add_attack_arguments,
        epilog=attack.attack_help_epilog(),
    )
    add(
        "demo",
        "iDLG and DLG on embedded photos (DLG's setting: sigmoid LeNet, 100 classes, 300 L-BFGS "
        "steps)",
        attack.cmd_demo,
        attack.add_demo_arguments,
    )
    add(
        "sweep",
        "run a sweep file into a store (resumes; --dry-run prints the plan)",
        sweep_cmds.cmd_sweep,
        sweep_cmds.add_sweep_arguments,
    )
    add("export", "write a store's runs as CSV", sweep_cmds.cmd_export, sweep_cmds.add_export_arguments)
    add(
        "report",
        "write the HTML report (tables, trade-off plots, image grids) of a store",
        sweep_cmds.cmd_report,
        sweep_cmds.add_report_arguments,
    )
    add(
        "train-generator",
        "train a GGL generator on the public split of an embedded dataset",
        cmd_train_generator,
        add_train_generator_arguments,
    )
    return p


def _error(command: str, message: str) -> None:
    sys.stdout.flush()
    print(f"leakjax {command}: error: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns its exit code (0, 2 for usage errors, 130 for Ctrl-C).

    Called from the console script (``argv is None``), an interrupted command exits at once
    after its message, without waiting for runs still computing in worker threads (their
    results were not going to be stored)."""
    from leakjax.cli.attack import Interrupted

    args = build_parser().parse_args(argv)
    rc = 0
    try:
        rc = args.func(args)
    except CLIError as e:
        _error(args.command, str(e))
        rc = 2
    except Interrupted as e:
        print(f"leakjax {args.command}: {e}", file=sys.stderr, flush=True)
        rc = 130
    except KeyboardInterrupt:
        print(
            f"leakjax {args.command}: interrupted (finished runs are in the store; the same "
            "command resumes)",
            file=sys.stderr,
        )
        rc = 130
    except (ValueError, FileNotFoundError) as e:
        _error(args.command, str(e))
        rc = 2
    if rc == 130 and argv is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
