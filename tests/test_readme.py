"""The README and docs/ as a newcomer reads them: the ten-line example runs as written on the public API (with one
epoch instead of eighty), every code block is a kind we check, and every command written in them (in a ```bash
block, or in running text) exists as written: its make target, script or module, subcommand, options and the values
it lists for them. Links, images and file references are checked in test_docs.py."""
import argparse
import functools
import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import acn_core

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.S | re.M)
BLOCK_LANGUAGES = {"bash", "python", "text"}  # bash: commands, checked; python: compiled (and run); text: read only
PROGRAMS = {"make", "python", "python3", ".venv/bin/python", "torchrun", "streamlit"}  # what we check
ELSEWHERE = {"npm", "tar", "apt-get", "sudo", "pip", "git", "du", "xargs", "tail", "wc"}  # other programs' commands
REPO_DIRS = ("acn_core/", "app/", "pages/", "bench/", "tests/", "assets/", "experiments/", "docs/")


def example() -> str:
    return re.search(r"## Ten-line example\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)


def test_readme_example_runs(tmp_path, monkeypatch):
    snippet = example()
    assert len(snippet.strip().splitlines()) <= 10
    original = acn_core.RunConfig

    def one_epoch():
        config = original()
        config.train.epochs = 1
        return config

    monkeypatch.setattr(acn_core, "RunConfig", one_epoch)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert len(namespace["ids"]) == 8 and len(namespace["frames"]) == 11
    assert namespace["bundle"].n_train == 4000 and (tmp_path / "my-model" / "config.json").is_file()


# ----------------------------------------------------------------------------- reading the documents

def blocks(path: Path) -> list[tuple[str, str, int]]:
    """The fenced code blocks of a document: (language, body, line of the opening fence)."""
    text = path.read_text()
    return [(m.group(2), m.group(3), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def strip_comment(line: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", line).strip()


def commands(path: Path) -> list[tuple[int, str]]:
    """(line, command) for every line of a ```bash block and every `code span` that starts with one of PROGRAMS."""
    text = path.read_text()
    found = []
    for language, body, line in blocks(path):
        if language == "bash":
            rows = [(line + i + 1, strip_comment(row)) for i, row in enumerate(body.splitlines())]
            found += [(number, row) for number, row in rows if row]
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keep line numbers
    for match in re.finditer(r"(?<!`)`([^`]+)`(?!`)", prose):
        span = " ".join(match.group(1).split())
        words = program_and_arguments(span)
        if words and words[0] in PROGRAMS:
            found.append((prose.count("\n", 0, match.start()) + 1, span))
    return found


def program_and_arguments(command: str) -> list[str]:
    """The words of a command without settings before it (`ACN_DATA_ROOT=… make run`) or a `time`/`nice` prefix."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    while words and (re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]) or words[0] in ("time", "nice")):
        words = words[1:]
    return words


def all_commands() -> list[tuple[str, str]]:
    return [(f"{path.relative_to(ROOT)}:{line}", command) for path in DOCUMENTS for line, command in commands(path)]


COMMANDS = all_commands()


# ----------------------------------------------------------------------------- what the programs accept

@functools.cache
def acn_core_commands() -> dict[str, argparse.ArgumentParser]:
    from acn_core.cli import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


@functools.cache
def make_targets() -> set[str]:
    return set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.M))


@functools.cache
def bench_help(arguments: tuple[str, ...]) -> str:
    """What `python -m bench ARGUMENTS --help` prints (the bench's own options, subcommands included)."""
    run = subprocess.run([sys.executable, "-m", "bench", *arguments], cwd=ROOT, capture_output=True, text=True,
                         check=False, timeout=600)
    assert run.returncode == 0, f"python -m bench {' '.join(arguments)}: {run.stderr[-1500:]}"
    return run.stdout


def words_of(arguments: list[str]) -> list[str]:
    """Arguments as written in a synopsis, without its brackets and ellipses: `[--k 8]` -> `--k`, `8`."""
    cleaned = [w.strip("[]").rstrip(".…") for w in arguments]
    return [w for w in cleaned if w]


def options_of(words: list[str]) -> list[str]:
    options = []
    for word in words:
        if word.startswith("--"):
            name = word.split("=")[0]
            if "[no-]" in name:
                options += [name.replace("[no-]", ""), name.replace("[no-]", "no-")]
            else:
                options.append(name)
    return options


def placeholder(word: str) -> bool:
    """DIR, N, FILE.png, OLD: a value the reader chooses."""
    return word.startswith("-") or any(c.isupper() for c in word) or not word


def check_repository_paths(words: list[str]) -> list[str]:
    return [f"{w} does not exist" for w in words if w.startswith(REPO_DIRS) and not (ROOT / w).exists()]


def check_acn_core(words: list[str]) -> list[str]:
    if not words:
        return []
    subcommands = acn_core_commands()
    if words[0] not in subcommands:
        return [f"`{words[0]}` is not a subcommand of python -m acn_core ({', '.join(subcommands)})"]
    known = subcommands[words[0]]._option_string_actions
    problems = [f"{option} is not an option of `python -m acn_core {words[0]}`"
                for option in options_of(words[1:]) if option not in known]
    for option, value in itertools.pairwise(words):  # values written out for an option with choices must be among them
        action = known.get(option.split("=")[0])
        if action is not None and action.choices and not placeholder(value):
            problems += [f"{option} {choice}: not one of {', '.join(map(str, action.choices))}"
                         for choice in value.split("|") if choice not in map(str, action.choices)]
    return problems


def check_bench(module: str, words: list[str]) -> list[str]:
    if module != "bench":  # a bench module run on its own: it exists and defines the options written
        path = ROOT / Path(*module.split("."))
        source = path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__main__.py"
        if not source.is_file():
            return [f"no module {module}"]
        text = source.read_text()
        if source.name != "__main__.py" and 'if __name__ == "__main__"' not in text:
            return [f"{module} cannot be run on its own (no __main__ block): use `python -m bench COMMAND`"]
        return [f"{option} is not an option of python -m {module}" for option in options_of(words)
                if f'"{option}"' not in text]
    subcommand = []
    for word in words:  # the subcommand written before the first option
        if word.startswith("-") or placeholder(word):
            break
        subcommand.append(word)
    if not subcommand and words != ["--help"] and not (words and placeholder(words[0])):
        return ["`python -m bench` needs a command (python -m bench --help lists them)"]
    asked = tuple(subcommand[:1]) + ("--help",)
    shown = bench_help(asked)
    return [f"{option} is not listed by `python -m bench {' '.join(asked)}`"
            for option in options_of(words) if not re.search(rf"{re.escape(option)}\b", shown)]


def check(command: str) -> list[str]:
    problems = []
    for part in re.split(r"\s+(?:&&|\|\||\|)\s+|\s*;\s*", command):  # not the | of `quick|full`
        words = program_and_arguments(part)
        if not words:
            continue
        program, rest = words[0], words_of(words[1:])
        problems += check_repository_paths(rest)
        if program == "make":
            problems += [f"the Makefile has no target `{t}`" for t in rest if not t.startswith("-")
                         and "=" not in t and t not in make_targets()]
        elif program in ("python", "python3", ".venv/bin/python", "torchrun"):
            if "-m" in rest:
                module, arguments = rest[rest.index("-m") + 1], rest[rest.index("-m") + 2:]
                if module == "acn_core":
                    problems += check_acn_core(arguments)
                elif module.split(".")[0] == "bench":
                    problems += check_bench(module, arguments)
                else:
                    problems.append(f"python -m {module}: a module these tests do not know how to check")
            elif program != "torchrun" and rest:
                problems += [] if (ROOT / rest[0]).is_file() else [f"no script {rest[0]}"]
        elif program == "streamlit":
            problems += [f"no script {w}" for w in rest if w.endswith(".py") and not (ROOT / w).is_file()]
        elif program not in ELSEWHERE:
            problems.append(f"`{program}`: a program these tests do not know how to check")
    return problems


# ----------------------------------------------------------------------------- the tests

def test_the_documents_write_commands_that_these_tests_see():
    """The extraction itself: a synopsis line, a command in running text across a line break, settings before it."""
    assert any(c.startswith("python -m acn_core train --out DIR") for _, c in COMMANDS)
    assert any(c.startswith("ACN_TEACHER_PASSPHRASE=") and c.endswith("make serve-class") for _, c in COMMANDS)
    assert check("python -m acn_core trian --out DIR") and check("python -m acn_core evaluate DIR --jsn")
    assert check("python -m acn_core paper-check --out DIR --budget tiny") and check("make serv-class")
    assert check("python experiments/no_such_sweep.py") and check("streamlit run app/Hom.py")
    assert check("python -m bench.browser --sizs 3") and check("python -m bench.no_such_bench")
    assert not check("ACN_DATA_ROOT=/data make run") and not check("python -m acn_core train --[no-]unique-neighbours")
    assert check("python -m acn_core daydream DIR --out F.png --mode mean|blur")
    assert not check("python -m acn_core daydream DIR --out F.png [--mode mean|sample|threshold]")


@pytest.mark.parametrize("where, command", COMMANDS, ids=[f"{w} {c[:60]}" for w, c in COMMANDS])
def test_every_command_exists_as_written(where, command):
    assert not check(command), f"{where}: `{command}`: " + "; ".join(check(command))


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_every_code_block_is_a_kind_we_check_and_python_compiles(path):
    for language, body, line in blocks(path):
        assert language in BLOCK_LANGUAGES, f"{path.name}:{line}: a ``` block needs one of {sorted(BLOCK_LANGUAGES)}"
        if language == "python":
            compile(body, f"{path.name}:{line}", "exec")


def test_the_readme_example_is_the_only_python_block_and_is_the_one_run():
    """A python block anywhere else would be compiled but never run: run it here too before adding one."""
    python = [(path.name, body) for path in DOCUMENTS for language, body, _ in blocks(path) if language == "python"]
    assert python == [("README.md", example())]


def test_the_command_line_page_names_every_option_of_train_and_only_real_ones():
    text = (ROOT / "docs" / "cli.md").read_text()
    ours = "\n".join(line for line in text.splitlines() if "torchrun" not in line)  # torchrun's options are its own
    named = set(options_of(re.findall(r"--(?:\[no-\])?[\w-]+", ours)))
    real = {o for parser in acn_core_commands().values() for o in parser._option_string_actions}
    assert not named - real, f"docs/cli.md names options no subcommand has: {sorted(named - real)}"
    train = {a.option_strings[0] for a in acn_core_commands()["train"]._actions if a.option_strings[0] != "-h"}
    assert not train - named, f"docs/cli.md leaves out options of train: {sorted(train - named)}"
