"""The [slurm] table's text options (partition, account, qos, time, mem): one check, each option's
own words when a value does not fit, and a time in whole minutes as sbatch takes it."""

from __future__ import annotations

import pytest

from engine.errors import BadInput
from engine.jobs.slurm.options import options_from, script


def test_a_time_in_whole_minutes_is_taken_as_sbatch_takes_it(tmp_path) -> None:
    options = options_from({"time": 30}, {})  # `time = 30` in the recipe's TOML
    assert options.time == "30"
    assert "#SBATCH --time=30" in script(tmp_path / "job", options, "tok").splitlines()


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ({"time": "soon"}, "Slurm time 'soon' is not a time limit: Slurm takes MINUTES, HH:MM:SS"),
        ({"time": True}, "Slurm time True is not a time limit"),
        ({"time": 0}, "Slurm time 0 is not a time limit"),
        ({"mem": "lots"}, "Slurm mem 'lots' is not an amount of memory: Slurm takes a number"),
        ({"mem": 16}, "Slurm mem 16 is not an amount of memory"),
        ({"account": "a b"}, "Slurm account 'a b' is not valid: it must be 1-200 letters"),
        ({"qos": "x" * 300}, f"Slurm qos {'x' * 80!r} is not valid"),
    ],
)
def test_each_text_option_is_refused_in_its_own_words(table, said) -> None:
    with pytest.raises(BadInput) as refused:
        options_from(table, {})
    assert said in refused.value.message
    assert "fix: give e.g. " in refused.value.message


def test_the_flags_override_the_table_and_are_checked_the_same_way() -> None:
    options = options_from({"partition": "gpu", "mem": "8G"}, {"partition": "debug", "mem": None})
    assert (options.partition, options.mem) == ("debug", "8G")
    with pytest.raises(BadInput, match="Slurm mem '8 G' is not an amount of memory"):
        options_from({}, {"mem": "8 G"})
