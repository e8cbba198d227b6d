"""The newcomer's path: README.md opens with exactly two commands (install and run the demo;
install and run the tests), .ci/run runs those and the README's development install verbatim,
and README.md and CONTRIBUTING.md link to nothing outside the repository."""
from __future__ import annotations

import os
import re
import shlex

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _read(name: str) -> str:
    path = os.path.join(ROOT, name)
    if not os.path.exists(path):
        pytest.skip(f"{name} is not beside the tests (an installed copy of the tests)")
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", markdown, flags=re.S | re.M)


def shell_commands(script: str) -> list[list[str]]:
    """The commands of a shell text as token lists: comments, blank lines and leading
    VAR=value assignments dropped; a line ending in a backslash joined to the next."""
    out = []
    for line in script.replace("\\\n", " ").splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote: not a command line of ours
            continue
        while tokens and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[0]):
            tokens.pop(0)
        if tokens:
            out.append(tokens)
    return out


def quick_start() -> list[list[str]]:
    blocks = code_blocks(_read("README.md"))
    assert blocks, "README.md has no code block"
    lang, body = blocks[0]
    assert lang in ("bash", "sh", "console", ""), f"README's first code block is {lang!r}, not shell"
    return shell_commands(body)


def ci_commands() -> list[list[str]]:
    """The commands of .ci/run, a trailing `|| exit N` dropped."""
    return [c[:-3] if len(c) > 3 and c[-3:-1] == ["||", "exit"] else c for c in shell_commands(_read(".ci/run"))]


def test_readme_opens_with_two_commands():
    cmds = quick_start()
    assert len(cmds) == 2, f"README's first code block should hold exactly two commands, has {cmds}"
    demo, test = (" ".join(c) for c in cmds)
    assert demo.startswith("pip install .[demo] && fastlayers demo "), demo
    assert test.startswith("pip install .[test]") and "torch==" in test and test.endswith("python -m pytest -q"), test


def test_ci_runs_the_readme_commands():
    """Each README command is a line of .ci/run, verbatim (environment assignments before it and
    a trailing `|| exit N` allowed)."""
    ci = ci_commands()
    for cmd in quick_start():
        assert cmd in ci, f"README's command {' '.join(cmd)!r} is not run by .ci/run"


def test_ci_runs_every_pip_install_of_the_readme():
    """The install commands anywhere in README's shell blocks (the quick start and the editable
    development install) are run by .ci/run as written."""
    ci = ci_commands()
    installs = [cmd for lang, body in code_blocks(_read("README.md")) if lang in ("bash", "sh")
                for cmd in shell_commands(body) if cmd[:2] == ["pip", "install"]]
    assert len(installs) >= 3, installs
    for cmd in installs:
        assert cmd in ci, f"README's command {' '.join(cmd)!r} is not run by .ci/run"


def test_one_torch_pin():
    """README, .ci/run (through the README's command) and the test summary's advice name one torch."""
    pins = {name: set(re.findall(r"torch==([\w.+]+)", _read(name)))
            for name in ("README.md", ".ci/run", "tests/conftest.py")}
    assert all(pins.values()) and len(set.union(*pins.values())) == 1, pins


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md"])
def test_docs_link_only_inside_the_repository(name):
    text = _read(name)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+://|^#|^mailto:", target):
            continue
        path = os.path.normpath(os.path.join(ROOT, target.split("#")[0]))
        assert path.startswith(os.path.normpath(ROOT) + os.sep), f"{name} links outside the repository: {target}"
        assert os.path.exists(path), f"{name} links to a missing file: {target}"
    assert "../shared" not in text, f"{name} points at ../shared, outside the repository"
