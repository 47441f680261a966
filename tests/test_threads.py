"""The ``threads`` setting: refused below 1, defaults to the cores this process may use, and sizes torch's pool."""

import os

import pytest
import torch

from nas_lightning.errors import UserInputError
from nas_lightning.threads import set_threads

from conftest import compose_run_config


def test_threads_below_one_refused():
    with pytest.raises(UserInputError, match="threads=0: must be >= 1"):
        compose_run_config(["threads=0"])


def test_threads_sizes_torch_and_defaults_to_the_allowed_cores():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        assert set_threads(None) == len(os.sched_getaffinity(0)) == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
