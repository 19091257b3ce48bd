"""Fixtures: the hand-made store of :mod:`report_fake_store` and its report."""

import pytest
from report_fake_store import write_fake_store


@pytest.fixture(scope="session")
def fake_store(tmp_path_factory):
    return str(write_fake_store(tmp_path_factory.mktemp("report") / "fake.sqlite"))


@pytest.fixture(scope="session")
def fake_report(fake_store, tmp_path_factory):
    from leakjax.report import write_report

    out = tmp_path_factory.mktemp("report_out")
    return write_report(fake_store, out)
