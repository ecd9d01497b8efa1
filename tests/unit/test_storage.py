from rtp_tag.storage import GuardedStorage, MemoryStorage


class RefusingStorage:
    """Storage as a sandboxed iframe or disabled storage offers it: every use throws."""

    def __init__(self, message="SecurityError: The operation is insecure."):
        self.message = message
        self.uses = 0

    def _refuse(self, *args):
        self.uses += 1
        raise RuntimeError(self.message)

    get = set = remove = keys = _refuse


class FullStorage(MemoryStorage):
    """Storage that reads fine but refuses writes, as when the quota is exceeded."""

    def set(self, key, value):
        raise RuntimeError("QuotaExceededError: the quota has been exceeded.")


def guarded(primary):
    warnings = []
    return GuardedStorage(primary, "sessionStorage", warnings.append), warnings


def test_memory_storage_keeps_removes_and_lists_items():
    storage = MemoryStorage({"a": "1"})
    storage.set("b", "2")
    storage.remove("a")
    storage.remove("never-there")
    assert storage.get("b") == "2"
    assert storage.get("a") is None
    assert storage.keys() == ["b"]


def test_a_working_storage_is_used_directly_and_nothing_is_warned():
    primary = MemoryStorage()
    storage, warnings = guarded(primary)
    storage.set("k", "v")
    assert primary.get("k") == "v"
    assert storage.get("k") == "v"
    storage.remove("k")
    assert primary.keys() == []
    assert not storage.degraded
    assert warnings == []


def test_a_refusing_storage_falls_back_to_memory_that_keeps_state_for_the_page():
    storage, _ = guarded(RefusingStorage())
    assert storage.get("k") is None
    storage.set("k", "v")
    assert storage.get("k") == "v"
    assert storage.keys() == ["k"]
    storage.remove("k")
    assert storage.get("k") is None
    assert storage.degraded


def test_the_fallback_warns_once_naming_the_storage_and_the_reason():
    storage, warnings = guarded(RefusingStorage())
    for _ in range(3):
        storage.set("k", "v")
        storage.get("k")
        storage.keys()
    assert len(warnings) == 1
    assert "sessionStorage is not available" in warnings[0]
    assert "The operation is insecure" in warnings[0]
    assert "in memory for this page" in warnings[0]


def test_after_the_first_failure_the_primary_is_left_alone():
    primary = RefusingStorage()
    storage, _ = guarded(primary)
    storage.get("a")
    uses_by_the_failure = primary.uses
    storage.set("a", "1")
    storage.get("a")
    storage.keys()
    storage.remove("a")
    assert primary.uses == uses_by_the_failure


def test_a_failure_on_write_also_falls_back_and_the_write_is_kept_in_memory():
    storage, warnings = guarded(FullStorage())
    storage.set("k", "v")
    assert storage.get("k") == "v"
    assert storage.degraded
    assert len(warnings) == 1 and "QuotaExceededError" in warnings[0]


def test_a_write_failure_keeps_what_was_already_stored():
    primary = FullStorage({"rtp:session": "state", "rtp:visitor": "v1"})
    storage, _ = guarded(primary)
    storage.set("other", "x")
    assert storage.get("rtp:session") == "state"
    assert storage.get("rtp:visitor") == "v1"
    assert sorted(storage.keys()) == ["other", "rtp:session", "rtp:visitor"]


def test_an_error_without_a_message_is_named_by_its_type():
    class Silent(RefusingStorage):
        def _refuse(self, *args):
            raise PermissionError()

        get = set = remove = keys = _refuse

    storage, warnings = guarded(Silent())
    storage.get("k")
    assert "(PermissionError)" in warnings[0]
