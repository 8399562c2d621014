"""num_threads: a number, null (torch's default) or auto (idle cores, at least 1)."""

import pytest

from gpen.utils.threads import resolve_num_threads, usable_cores


def test_auto_takes_the_idle_cores_and_at_least_one():
    cores = usable_cores()
    assert resolve_num_threads("auto", load=0.0) == cores
    assert resolve_num_threads("auto", load=cores + 3.0) == 1
    assert resolve_num_threads("auto", load=0.6) == max(1, cores - 1)


def test_numbers_and_null_pass_and_nonsense_is_refused():
    assert resolve_num_threads(None) is None and resolve_num_threads(3) == 3
    for bad in (0, -2, "two", 1.5, True):
        with pytest.raises(ValueError, match="num_threads"):
            resolve_num_threads(bad)
