"""python -m bench COMMAND [OPTIONS]: the project's benchmarks, one front door. Each measurement is printed as a
ratio against a baseline run in the same process, or against its goal (every goal is in bench/rows.py: GOALS).
`python -m bench COMMAND --help` says what a command measures and its options."""
import argparse
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "assets" / "default-mnist5k"
PIXELCNN = REPO / "assets" / "paper-check" / "pixelcnn-spatial-acn"
MLP = {"model.encoder": "mlp", "model.decoder": "mlp", "model.encoder_input": "binary"}  # the public ones' kind


def speed_parts(args: argparse.Namespace) -> list:
    """The library: a training step against the standard prior's, precision and compile, throughput and
    scaling, the neighbour search and the code index, the machine's limit, peak memory."""
    from . import core

    return [lambda: core.training_step_overhead(args.bundle, (5_000, 60_000), mlp=True),
            lambda: core.training_step_overhead(args.bundle, (5_000, 60_000), precision="bf16"),
            lambda: core.training_step_overhead(PIXELCNN, (60_000,), batch=64),
            lambda: core.precision_and_compile(args.bundle),
            lambda: core.precision_and_compile(PIXELCNN, batch=64),
            lambda: core.scaling(MLP, name="MLP ACN like the public ones"), lambda: core.scaling({}),
            lambda: core.neighbour_search((5_000, 60_000)),
            lambda: core.code_index((5_000, 60_000, 1_000_000), queries=100 if args.quick else 500),
            lambda: core.machine_limit(args.bundle),
            lambda: core.peak_memory(args.bundle)]


def app_parts(args: argparse.Namespace) -> list:
    """The app: what the server answers (a click, a daydream step, a region, a drawn digit, a replay frame, the
    PixelCNN's reconstructions, the teaching views, the atlas), then in Chromium the cold start, a cold lesson
    link and the tour's Compare step on its first visit; with --big, a 60k-code bundle and the map at scale."""
    from . import browser, core, teaching

    parts = [lambda: core.app_latency(args.bundle, (5_000, 60_000)),
             lambda: core.explorer_latency(args.bundle),
             lambda: core.pixelcnn_latency(PIXELCNN),
             lambda: teaching.teaching_latency(args.bundle, PIXELCNN),
             browser.atlas_rows,
             browser.cold_start_rows]
    if args.big:
        parts.append(lambda: browser.big_bundle_rows(REPO / "build"))
        parts.append(browser.map_scale_rows)
    return parts


def table(parts: list, args: argparse.Namespace) -> None:
    """Each part's rows as they come, then (of more than one part) the whole table; --json writes it too."""
    from acn_core.runtime import configure

    from .rows import print_table, write_json

    configure(args.threads)
    rows = []
    for part in parts:
        new = part()
        print_table(new)
        rows += new
    if len(parts) > 1:
        print()
        print_table(rows)
    if args.json:
        write_json(rows, args.json)


def speed(args: argparse.Namespace) -> None:
    table(speed_parts(args), args)


def app(args: argparse.Namespace) -> None:
    table(app_parts(args), args)


def everything(args: argparse.Namespace) -> None:
    table(speed_parts(args) + app_parts(args), args)


def map_scale(args: argparse.Namespace) -> None:
    from . import browser

    parts = [browser.atlas_rows]
    if not args.no_browser:
        parts.append(lambda: browser.map_scale_rows(tuple(args.sizes)))
    table(parts, args)


def fullsize(args: argparse.Namespace) -> None:
    from .fullsize import fullsize_training

    table([lambda: fullsize_training(args.root)], args)


def classroom(args: argparse.Namespace) -> None:
    from .class_faults import load_test

    load_test(args.students, args.rounds, args.settle, args.soak_minutes, args.soak_sessions, args.hostile,
              args.bad_inputs, args.browser, args.json, args.board, args.board_only, args.board_shots,
              args.memory_probe)


def lesson(args: argparse.Namespace) -> None:
    from .lesson import report

    report()


def lean(args: argparse.Namespace) -> None:
    from .lean_bundles import report

    report(args.old)


def class_size(text: str) -> int:
    n = int(text)
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError(f"a class is from 1 to 100 students, not {n}")
    return n


def formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, width=116, max_help_position=26)


def synopsis(sub: argparse.ArgumentParser) -> str:
    """A command's usage on lines of at most 116 characters, never breaking inside a [...] group."""
    words, depth = [""], 0
    for c in " ".join(sub.format_usage().split()[1:]):
        if c == " " and depth == 0:
            words.append("")
            continue
        depth += (c == "[") - (c == "]")
        words[-1] += c
    lines = ["  " + words.pop(0)]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > 116:
            lines.append("     ")
        lines[-1] += " " + word
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=formatter)
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    def command(name: str, run, help: str, description: str = "") -> argparse.ArgumentParser:
        text = " ".join((description or help).split())
        sub = commands.add_parser(name, help=help, description=textwrap.fill(text[0].upper() + text[1:], 116),
                                  formatter_class=formatter)
        sub.set_defaults(run=run)
        return sub

    def table_options(sub: argparse.ArgumentParser, bundle: bool = True) -> None:
        sub.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON here")
        sub.add_argument("--threads", type=int, default=1, metavar="N", help="torch threads for every measurement")
        if bundle:
            sub.add_argument("--bundle", type=Path, default=BUNDLE, metavar="DIR",
                             help="the model measured (default: the bundled assets/default-mnist5k)")

    quick = {"action": "store_true", "help": "fewer queries of the code index (100, not 500)"}
    big = {"action": "store_true", "help": "also a 60k-code bundle in Chromium (builds build/bench-60k) and the "
                                           "Latent map at 5k, 70k and 1M points (builds build/bench-map-*)"}
    sub = command("all", everything, "speed, then app: every row of both in one table (make bench: all --quick)")
    sub.add_argument("--quick", **quick)
    sub.add_argument("--big", **big)
    table_options(sub)
    sub = command("speed", speed, "the library: training step, precision, throughput, k-NN, Annoy, memory",
                  speed_parts.__doc__)
    sub.add_argument("--quick", **quick)
    table_options(sub)
    sub = command("app", app, "the app: server answers, then cold start, lesson link, Compare step in Chromium",
                  app_parts.__doc__)
    sub.add_argument("--big", **big)
    table_options(sub)
    sub = command("map", map_scale, "the Latent map's layers (atlas) and the map at each size in Chromium")
    sub.add_argument("--sizes", type=int, nargs="*", default=[4_000, 60_000, 1_000_000], metavar="N",
                     help="training points: 4000 = the bundled model; larger sizes build synthetic map bundles "
                          "under build/ (10,000 held-out points are added)")
    sub.add_argument("--no-browser", action="store_true", help="only the atlas rows")
    table_options(sub, bundle=False)
    sub = command("fullsize", fullsize, "training on the real 60k MNIST against mnist5k (docs/full-size-data.md)",
                  "Training on the real 60,000-image MNIST under DIR/MNIST/raw against mnist5k, in one process "
                  "(skipped, with a message saying where the files go, when they are absent).")
    sub.add_argument("root", type=Path, metavar="DIR", help="holds DIR/MNIST/raw/*-ubyte")
    table_options(sub, bundle=False)
    sub = command("classroom", classroom, "N virtual students on one real server (docs/classroom.md)",
                  "A class of N virtual students on one real `streamlit run app/Home.py` (started here on a free "
                  "loopback port), through Streamlit's websocket protocol: per action the median and 95th "
                  "percentile, errors and the server's memory, then the goals of issues 18 and 24 "
                  "(docs/classroom.md).")
    sub.add_argument("students", type=class_size, metavar="N", help="students at once (1-100)")
    sub.add_argument("--rounds", type=int, default=2, metavar="R",
                     help="lessons per student (each: 5 clicks, box, lasso, 3 daydream steps, a drawn digit)")
    sub.add_argument("--settle", type=float, default=60.0, metavar="SECONDS",
                     help="seconds after the class leaves before memory is read")
    sub.add_argument("--soak-minutes", type=float, default=0.0, metavar="MINUTES",
                     help="then a soak of --soak-sessions students")
    sub.add_argument("--soak-sessions", type=int, default=10, metavar="S", help="students in the soak")
    sub.add_argument("--board", action="store_true",
                     help="then the class board: a teacher's board open, each student joins, draws a 7 and sends it")
    sub.add_argument("--board-only", action="store_true", help="the board phase alone (no clicking or lesson phase)")
    sub.add_argument("--board-shots", type=Path, metavar="DIR",
                     help="in the board phase, Chromium screenshots of the teacher's board (1400x900) into DIR")
    sub.add_argument("--memory-probe", type=Path, metavar="DIR",
                     help="tracemalloc snapshots in the server (DIR) and where its memory went (slow: a diagnosis)")
    sub.add_argument("--hostile", action="store_true", help="then hostile uploads and a training job beside the class")
    sub.add_argument("--bad-inputs", action="store_true", help="then disconnects mid-run, garbage, a flood, all-select")
    sub.add_argument("--browser", type=int, default=0, metavar="B", help="then B real Chromium sessions (check)")
    sub.add_argument("--json", type=Path, metavar="FILE", help="also write every figure here")
    command("lesson", lesson, "each step of the built-in tour in presenter mode, server time (docs/teaching.md)",
            "Server time to show each step of the built-in tour in presenter mode (AppTest, in this process), two "
            "passes, against the goal of a step. Threads: ACN_APP_THREADS (default 1).")
    sub = command("lean", lean,
                  "what lean bundles cost: loading, decoding mnist5k, building the index (docs/bundle.md)")
    sub.add_argument("old", type=Path, nargs="?", metavar="OLD",
                     help="the bundled default as it was before lean bundles (made here when not given)")
    parser.epilog = "every command and its options:\n" + "\n".join(map(synopsis, commands.choices.values()))
    return parser


if __name__ == "__main__":
    arguments = build_parser().parse_args()
    arguments.run(arguments)
