"""Shared pytest fixtures: a fresh fake daemon and tenant per test."""

import os
import sys
import uuid

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
for _path in (TESTS_DIR, REPO_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from fake_daemon import FakeDaemon  # noqa: E402


@pytest.fixture
def daemon():
    """A started FakeDaemon (key ``test-key``) on a free loopback port, stopped afterwards."""
    fake = FakeDaemon().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def tenant():
    """A fresh tenant id (a uuid4 string, as the daemon's Postgres columns require)."""
    return str(uuid.uuid4())
