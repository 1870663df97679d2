"""The README and docs/ must not go stale: every `sentiment-cli ...` command in their ```bash
blocks names a command and options that exist, and every relative link points to a file.

Fast: it reads click's command objects and the files, and trains nothing.
"""
import re
import shlex
from pathlib import Path

import pytest

from sentiment_cli.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

OPERATORS = {"&&", "||", "|", ";", "&", "(", ")"}
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.S | re.M)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def bash_blocks(text):
    return BASH_BLOCK.findall(text)


def commands_in(block):
    """Each `sentiment-cli` invocation in a bash block, as its list of arguments."""
    found = []
    logical = block.replace("\\\n", " ")
    for line in logical.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            if Path(token).name != "sentiment-cli":
                continue
            args = []
            for arg in tokens[i + 1:]:
                if arg in OPERATORS:
                    break
                args.append(arg)
            found.append(args)
    return found


def problems_of(args):
    """What is wrong with one `sentiment-cli ARGS` line: an unknown command or option."""
    if not args or args[0].startswith("-"):
        known = {o for p in cli.params for o in p.opts + p.secondary_opts} | {"--help", "--version"}
        return [f"option {a} of sentiment-cli" for a in args if a.startswith("-") and a not in known]
    name, rest = args[0], args[1:]
    command = cli.commands.get(name)
    if command is None:
        return [f"no command {name!r} (commands: {', '.join(sorted(cli.commands))})"]
    known = {o for p in command.params for o in p.opts + p.secondary_opts} | {"--help"}
    bad = []
    for arg in rest:
        if arg == "--":  # what follows is the command's arguments, not options
            break
        if arg == "-" or not arg.startswith("-"):
            continue
        option = arg.split("=", 1)[0]
        if option not in known:
            bad.append(f"{name}: no option {option}")
    return bad


def documented_commands():
    for path in DOCS:
        for block in bash_blocks(path.read_text(encoding="utf-8")):
            for args in commands_in(block):
                yield path.relative_to(ROOT).as_posix(), args


def test_the_docs_hold_commands():
    # the extraction itself works: without this, an empty harvest would pass everything
    found = list(documented_commands())
    names = {args[0] for _, args in found if args}
    assert len(found) > 40
    assert set(cli.commands) <= names, f"commands without an example: {set(cli.commands) - names}"


@pytest.mark.parametrize("where,args", list(documented_commands()),
                         ids=lambda v: v if isinstance(v, str) else " ".join(v)[:60])
def test_documented_command_exists(where, args):
    assert problems_of(args) == [], f"{where}: sentiment-cli {' '.join(args)}"


def test_a_wrong_option_is_caught():
    block = "sentiment-cli train demo --train data/x.txt --epochz 3 && sentiment-cli tset demo\n"
    commands = commands_in(block)
    assert commands == [["train", "demo", "--train", "data/x.txt", "--epochz", "3"], ["tset", "demo"]]
    assert problems_of(commands[0]) == ["train: no option --epochz"]
    assert problems_of(commands[1])[0].startswith("no command 'tset'")
    # an option of another command is wrong here too, and `--` ends the options
    assert problems_of(["test", "demo", "--epochs", "3"]) == ["test: no option --epochs"]
    assert problems_of(["test", "demo", "--", "--epochs"]) == []


def test_commands_are_read_across_continuations_and_comments():
    block = ("# on host1\nTF_CONFIG='{\"a\": 1}' \\\n    sentiment-cli train r --train r.csv --strategy multi-worker\n"
             "echo hi | .venv/bin/sentiment-cli test imdb --input - --output -   # to stdout\n")
    assert commands_in(block) == [["train", "r", "--train", "r.csv", "--strategy", "multi-worker"],
                                  ["test", "imdb", "--input", "-", "--output", "-"]]


def relative_links():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)  # links inside code are code
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            yield path, target.split("#", 1)[0]


def test_relative_links_point_to_files():
    missing = []
    for path, target in relative_links():
        resolved = (path.parent / target).resolve()
        if resolved.exists():
            continue
        missing.append(f"{path.relative_to(ROOT).as_posix()}: {target}")
    assert missing == []
    assert sum(1 for _ in relative_links()) > 20
