"""The examples of the metric modules' docstrings and of their cards run and print what they claim.

`pytest tests` covers them without `--doctest-modules`. The examples load the metrics by the
relative path `metrics/<name>`, as a user at the repository root would, so they run from there.
"""

from __future__ import annotations

import doctest
import importlib.util
import re
from pathlib import Path

import evaluate
import pytest

REPO = Path(__file__).resolve().parents[1]
METRICS = ["real_accuracy", "multilabel_accuracy"]


@pytest.mark.parametrize("name", METRICS)
def test_module_docstring_examples(name, monkeypatch):
    monkeypatch.chdir(REPO)
    path = REPO / "metrics" / name / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_doctest_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    results = doctest.testmod(module, report=True)

    assert results.attempted > 0, f"no examples found in {path}"
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed in {path}"


@pytest.mark.parametrize("name", METRICS)
def test_card_examples(name, monkeypatch):
    """Each ```python block of the card that holds `>>>` lines is run as a doctest."""
    monkeypatch.chdir(REPO)
    card = REPO / "metrics" / name / "README.md"
    blocks = [b for b in re.findall(r"```python\n(.*?)```", card.read_text(encoding="utf-8"), re.S) if ">>>" in b]
    assert blocks, f"no examples found in {card}"
    runner = doctest.DocTestRunner()
    parser = doctest.DocTestParser()
    globs = {"evaluate": evaluate}  # blocks build on each other, as a reader would run them
    for number, block in enumerate(blocks, 1):
        runner.run(parser.get_doctest(block, globs, f"{card.name} block {number}", str(card), 0))

    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} card examples failed in {card}"
