"""The README's examples are real: its sweep config validates and its five lines run."""

import re
from pathlib import Path

import numpy as np

from overlapcal.experiments.config import config_from_dict, expand

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_sweep_config_is_valid():
    import tomllib

    (block,) = _blocks("toml")
    config = config_from_dict(tomllib.loads(block), "README")
    assert config.n_cells == 4 * 2 * 2 == len(expand(config))


def test_readme_five_lines_run_and_print_the_stated_values(capsys):
    (block,) = _blocks("python")
    exec(block, {})
    printed = capsys.readouterr().out
    # The comment in the README promises 0.5 log 2 and 0.75, exactly.
    assert printed.split() == [repr(0.5 * float(np.log(2))), "0.75"]
