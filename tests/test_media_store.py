"""The store's published images (store/media.py) on SQLite and PostgreSQL: kept by name,
put again without change, and put by two senders at once without either failing."""

from __future__ import annotations

import threading

from bulletin.store import Store

pytest_plugins = ["tests.store_fixtures"]

NAME = "0123456789abcdef0123.png"


def test_put_get_and_put_again(database_url: str) -> None:
    with Store.open(database_url) as store:
        assert store.media.get(NAME) is None
        assert store.media.put([(NAME, b"\x89PNG bytes", "image/png")]) == 1
        assert store.media.put([(NAME, b"\x89PNG bytes", "image/png"),
                                ("fedcba98765432100123.jpg", b"\xff\xd8", "image/jpeg")]) == 1
        found = store.media.get(NAME)
        assert found is not None
        assert (found.data, found.content_type) == (b"\x89PNG bytes", "image/png")
        assert store.media.names() == [NAME, "fedcba98765432100123.jpg"]
        assert store.media.put([]) == 0


def test_two_senders_put_the_same_images_at_once(database_url: str) -> None:
    files = [(f"{n:020x}.jpg", bytes([n]) * 50_000, "image/jpeg") for n in range(20)]
    Store.open(database_url).close()  # the schema, once
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def put() -> None:
        try:
            with Store.open(database_url) as store:
                start.wait()
                store.media.put(files)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store.open(database_url) as store:
        assert store.media.names() == sorted(name for name, _, _ in files)
        assert all(store.media.get(name).data == data  # type: ignore[union-attr]
                   for name, data, _ in files)
