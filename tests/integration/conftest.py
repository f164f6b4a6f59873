"""Fixtures: factories for weir and fake upstreams that stop everything they started."""
import contextlib

import pytest

from harness import Upstream, WeirProcess


@pytest.fixture
def upstream(tmp_path):
    """upstream(name, **kw) -> a running Upstream, stopped after the test."""
    with contextlib.ExitStack() as stack:
        def start(name, **kw):
            return stack.enter_context(Upstream(name, tmp_path, **kw))
        yield start


@pytest.fixture
def weir(tmp_path):
    """weir(config_text, **kw) -> a running WeirProcess, stopped after the test."""
    with contextlib.ExitStack() as stack:
        count = 0

        def start(config, **kw):
            nonlocal count
            count += 1
            kw.setdefault("name", f"weir{count}")
            return stack.enter_context(WeirProcess(config, tmp_path, **kw))
        yield start
