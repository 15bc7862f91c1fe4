"""What the steps say of pipelines and rollouts: shards in parallel or from the cache,
the artifact, the red pipeline, and the decisions of a kind."""

from __future__ import annotations

from typing import Any

from andon.demo.story import decisions, describe_pipeline


def job(name: str, status: str = "success", *, shard: int = 1, of: int = 1, at: int = 0) -> Any:
    return {
        "job": name,
        "name": name if of == 1 else f"{name}[{shard}/{of}]",
        "status": status,
        "shard_total": of,
        "started_at": f"2026-01-01T00:00:{at:02d}Z",
        "finished_at": f"2026-01-01T00:00:{at + 5:02d}Z",
        "duration": 5.0,
    }


def pipeline(*jobs: Any, status: str = "success", artifact: str | None = None) -> Any:
    return {"id": 7, "status": status, "duration": 9.25, "artifact": artifact, "jobs": list(jobs)}


def test_shards_that_ran_together_are_said_to_run_in_parallel() -> None:
    said = describe_pipeline(
        pipeline(
            job("compile"),
            job("unit", shard=1, of=2, at=1),
            job("unit", shard=2, of=2, at=2),
            job("package"),
            artifact="sha256:0123456789abcdef0123",
        )
    )
    assert said == (
        "pipeline #7 green in 9.2s: unit in 2 shards in parallel (5.0s, 5.0s); compile "
        "→ artifact sha256:0123456789ab…"
    )


def test_shards_served_from_the_cache_say_so_and_a_red_pipeline_has_no_artifact() -> None:
    said = describe_pipeline(
        pipeline(
            job("unit", "cached", shard=1, of=2),
            job("unit", "cached", shard=2, of=2),
            job("schema", "failed"),
            status="failed",
        )
    )
    assert said == (
        "pipeline #7 red in 9.2s: unit in 2 shards reused from cache; schema (2 job(s) from cache)"
    )


def test_decisions_of_a_kind_are_their_sentences_in_order() -> None:
    rollout = {
        "decisions": [
            {"kind": "analysis", "sentence": "analysing errors"},
            {"kind": "rolled_back", "sentence": "rolled back: errors failed"},
            {"kind": "analysis", "sentence": "analysis run 2"},
        ]
    }
    assert decisions(rollout, "analysis") == ["analysing errors", "analysis run 2"]
    assert decisions(rollout, "rolled_back", "rolling_back") == ["rolled back: errors failed"]
    assert decisions({}, "analysis") == []
