"""The dict store passes wfaudit's store conformance kit."""

import itertools

import pytest

import wfaudit_dict_store
from wfaudit import Auditor
from wfaudit.testing import StoreConformance

NUMBERS = itertools.count()


class TestDictStore(StoreConformance):
    @pytest.fixture
    def store(self):
        # A new name per test: each test starts from an empty store.
        store = wfaudit_dict_store.DictStore(f"dict://kit-{next(NUMBERS)}")
        yield store
        store.close()


def test_an_auditor_opens_it_by_url():
    auditor = Auditor.from_url(
        "dict://tutorial", plugins=[wfaudit_dict_store], allow_unmasked=True, strict=True
    )
    auditor.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id=7, config={"a": 1})
    assert auditor.get_snapshot(1, "CI").config == {"a": 1}
