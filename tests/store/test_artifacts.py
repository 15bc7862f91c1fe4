"""ArtifactRepository on SQLite and PostgreSQL: adding by digest, finding by a prefix of it,
and listing newest first."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from andon.errors import NotFoundError, UsageError
from andon.store import ArtifactRecord, Store

MANIFEST: dict[str, Any] = {
    "files": [{"path": "app/main.py", "sha256": "e3b0c442", "mode": 420}],
    "entrypoint": "python -m app",
}


def digest(hex_start: str) -> str:
    return "sha256:" + hex_start + "0" * (64 - len(hex_start))


def add(store: Store, hex_start: str = "ab12cd34", **changes: Any) -> ArtifactRecord:
    fields: dict[str, Any] = {
        "digest": digest(hex_start),
        "project": "shop",
        "commit": "a" * 40,
        "tree": "f" * 40,
        "pipeline_id": 3,
        "size": 12_345,
        "path": f"/var/lib/andon/artifacts/{hex_start}.tar.gz",
        "manifest": MANIFEST,
    }
    fields.update(changes)
    return store.artifacts.add(**fields)


def test_an_added_artifact_reads_back_the_same_by_its_digest(store: Store, clock: Any) -> None:
    added = add(store)

    assert added.created_at == clock.now
    assert added.manifest == MANIFEST
    assert store.artifacts.get(added.digest) == added


def test_adding_a_known_digest_returns_the_first_record_unchanged(store: Store, clock: Any) -> None:
    first = add(store)
    clock.advance(minutes=5)

    again = add(store, commit="b" * 40, pipeline_id=9)

    assert again == first
    assert store.artifacts.list() == [first]


def test_concurrent_adds_of_one_digest_all_return_the_one_record(store: Store) -> None:
    start = threading.Barrier(4)
    results: list[ArtifactRecord] = []
    errors: list[BaseException] = []

    def add_concurrently(pipeline_id: int) -> None:
        start.wait()
        try:
            results.append(add(store, pipeline_id=pipeline_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add_concurrently, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(results) == 4
    assert all(result == results[0] for result in results)
    assert len(store.artifacts.list()) == 1


@pytest.mark.parametrize("bad", ["ab12cd34", "sha256:xyz", "sha256:" + "A" * 64, "md5:" + "0" * 64])
def test_a_malformed_digest_is_refused(store: Store, bad: str) -> None:
    with pytest.raises(UsageError, match="is not an artifact digest"):
        add(store, digest=bad)

    assert store.artifacts.list() == []


@pytest.mark.parametrize("given", ["ab12cd3", "sha256:ab12cd3", "AB12CD34", "sha256:ab12cd340"])
def test_a_unique_prefix_of_seven_or_more_hex_digits_finds_the_artifact(
    store: Store, given: str
) -> None:
    wanted = add(store)
    add(store, "ab99")

    assert store.artifacts.get(given) == wanted


def test_an_ambiguous_prefix_is_a_usage_error_naming_the_candidates(store: Store) -> None:
    first = add(store, "ab12cd34")
    second = add(store, "ab12cd35")

    with pytest.raises(UsageError) as caught:
        store.artifacts.get("ab12cd3")

    assert str(caught.value) == (
        f"'ab12cd3' is the start of several artifact digests ({first.digest}, "
        f"{second.digest}); give more of the digest."
    )


def test_an_ambiguous_prefix_of_many_artifacts_names_a_few_and_says_there_are_more(
    store: Store,
) -> None:
    for last in "12345":
        add(store, "ab12cd3" + last)

    with pytest.raises(UsageError, match=r"ab12cd33[0]+ and more\); give more"):
        store.artifacts.get("sha256:ab12cd3")


@pytest.mark.parametrize("given", ["ab12cd", "sha256:", "ab12cd3z", ""])
def test_a_prefix_shorter_than_seven_hex_digits_is_a_usage_error(store: Store, given: str) -> None:
    add(store)

    with pytest.raises(UsageError, match="at least the first 7"):
        store.artifacts.get(given)


def test_an_unknown_digest_or_prefix_is_not_found(store: Store) -> None:
    add(store)

    with pytest.raises(NotFoundError) as caught:
        store.artifacts.get("ffffffff")
    assert str(caught.value) == (
        "no artifact with digest 'ffffffff'; 'andon artifact list' shows recent ones."
    )
    with pytest.raises(NotFoundError):
        store.artifacts.get(digest("ff"))


def test_the_artifact_for_a_commit_is_the_newest_of_that_project(store: Store, clock: Any) -> None:
    add(store, "01")
    clock.advance(seconds=1)
    newer = add(store, "02")
    add(store, "03", project="web")

    assert store.artifacts.for_commit("shop", "a" * 40) == newer
    assert store.artifacts.for_commit("shop", "b" * 40) is None
    assert store.artifacts.for_commit("billing", "a" * 40) is None


def test_the_list_is_newest_first_and_filters_by_project_and_limit(
    store: Store, clock: Any
) -> None:
    oldest = add(store, "01")
    clock.advance(seconds=1)
    web = add(store, "02", project="web")
    clock.advance(seconds=1)
    newest = add(store, "03")

    assert store.artifacts.list() == [newest, web, oldest]
    assert store.artifacts.list(project="shop") == [newest, oldest]
    assert store.artifacts.list(limit=2) == [newest, web]
    assert store.artifacts.list(project="billing") == []


def test_to_dict_gives_json_values_with_utc_timestamps(store: Store) -> None:
    record = add(store)

    as_dict = record.to_dict()

    assert as_dict == {
        "digest": digest("ab12cd34"),
        "project": "shop",
        "commit": "a" * 40,
        "tree": "f" * 40,
        "pipeline_id": 3,
        "size": 12_345,
        "path": "/var/lib/andon/artifacts/ab12cd34.tar.gz",
        "manifest": MANIFEST,
        "created_at": "2024-05-01T12:00:00.123456Z",
    }
    assert json.loads(json.dumps(as_dict)) == as_dict
    as_dict["manifest"]["files"].clear()
    assert record.manifest == MANIFEST
