"""AES-GCM key ring: values open only with their key and purpose; old keys still decrypt."""

from __future__ import annotations

import pytest

from omnicx.core.crypto import KeyError_, KeyRing, UndecryptableValue, new_key


def ring(spec: str) -> KeyRing:
    return KeyRing.parse(spec)


def test_round_trip_and_fresh_nonce_each_time():
    keys = ring(f"k1:{new_key()}")
    a = keys.encrypt(b"13800138000", "identifiers.value")
    b = keys.encrypt(b"13800138000", "identifiers.value")
    assert a != b and "13800138000" not in a
    assert keys.decrypt(a, "identifiers.value") == b"13800138000"


def test_a_value_moved_to_another_column_does_not_open():
    keys = ring(f"k1:{new_key()}")
    token = keys.encrypt(b"zhang@example.com", "identifiers.value")
    with pytest.raises(UndecryptableValue):
        keys.decrypt(token, "events.payload")


def test_tampering_is_detected():
    keys = ring(f"k1:{new_key()}")
    token = keys.encrypt(b"secret", "p")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(UndecryptableValue):
        keys.decrypt(flipped, "p")


def test_rotation_keeps_old_values_readable_and_marks_them_stale():
    old_key, new = new_key(), new_key()
    before = ring(f"k1:{old_key}")
    token = before.encrypt(b"value", "p")
    after = ring(f"k2:{new},k1:{old_key}")
    assert after.decrypt(token, "p") == b"value"
    assert not token.startswith(after.active_prefix)
    assert after.encrypt(b"value", "p").startswith(after.active_prefix)
    with pytest.raises(UndecryptableValue):
        ring(f"k2:{new}").decrypt(token, "p")


@pytest.mark.parametrize(
    "spec",
    ["", "k1", "k1:short", "k-1:" + "A" * 43, f"k1:{new_key()},k1:{new_key()}", "k1:***"],
    # Named, not shown: the random keys would differ between parallel test workers.
    ids=["empty", "no-key", "short", "bad-id", "id-twice", "not-base64"],
)
def test_bad_key_settings_are_refused_with_a_reason(spec):
    with pytest.raises(KeyError_):
        ring(spec)


def test_a_file_is_sealed_under_its_own_key_and_opens_only_untouched():
    from omnicx.core.crypto import open_blob, seal_blob

    data = "维修单：空调外机漏水".encode() * 100
    sealed = seal_blob(data, "desk_attachments.content")
    assert data not in sealed.sealed and len(sealed.sealed) == len(data) + 12 + 16
    assert open_blob(sealed.key, sealed.sealed, "desk_attachments.content") == data
    assert seal_blob(data, "desk_attachments.content").key != sealed.key  # a key per file
    with pytest.raises(UndecryptableValue):
        open_blob(sealed.key, sealed.sealed, "webchat_messages.text")
    tampered = sealed.sealed[:-1] + bytes([sealed.sealed[-1] ^ 1])
    with pytest.raises(UndecryptableValue):
        open_blob(sealed.key, tampered, "desk_attachments.content")
