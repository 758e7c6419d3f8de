"""The test suite on both supported datasets lines: 3.6 (runs loading scripts) and 5.x (current)."""

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = False

DATASETS = {"3.6": "datasets==3.6.*", "5": "datasets>=5,<6"}


@nox.session
@nox.parametrize("datasets", list(DATASETS))
def tests(session: nox.Session, datasets: str) -> None:
    """pytest against one datasets line; under `python -O` on 5.x (validation must not rely on assert)."""
    session.install(".[test]", DATASETS[datasets])
    session.run("python", "-c", "import datasets; print('datasets', datasets.__version__)")
    optimize = ["-O"] if datasets == "5" else []
    session.run("python", *optimize, "-m", "pytest", "-q", *session.posargs)
