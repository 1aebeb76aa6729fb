"""The generation records, on both engines."""

from __future__ import annotations

from bot.storage import GenerationStatus, NewGeneration, Store


def new(user_id: int = 1, **fields: object) -> NewGeneration:
    values: dict[str, object] = {
        "user_id": user_id,
        "guild_id": 10,
        "channel_id": 20,
        "prompt": "a lighthouse at dusk",
        "negative_prompt": None,
        "aspect": "1:1",
        "count": 2,
        "requested_seed": None,
        "model": "flux-schnell",
        **fields,
    }
    return NewGeneration(**values)  # type: ignore[arg-type]


async def test_create_then_read_back(store: Store) -> None:
    created = await store.create_generation(
        new(negative_prompt="fog", requested_seed=2**40, private=True, interaction_id=2**62)
    )
    assert created.status == GenerationStatus.PENDING
    assert created.created_at.tzinfo is not None
    fetched = await store.get_generation(created.id)
    assert fetched == created
    assert (fetched.requested_seed, fetched.private, fetched.interaction_id) == (
        2**40,
        True,
        2**62,
    )
    assert await store.get_generation(created.id + 1000) is None


async def test_complete_records_the_result(store: Store) -> None:
    created = await store.create_generation(new())
    await store.complete_generation(
        created.id,
        provider="runware",
        model_id="runware:100@1",
        seeds=[7, None],
        cost_usd=0.0013,
        cost_source="provider",
        provider_latency_ms=812.5,
        total_latency_ms=901.0,
    )
    done = await store.get_generation(created.id)
    assert done is not None
    assert done.status == GenerationStatus.SUCCEEDED
    assert (done.provider, done.model_id, done.seeds) == ("runware", "runware:100@1", (7, None))
    assert (done.cost_usd, done.cost_source) == (0.0013, "provider")
    assert (done.provider_latency_ms, done.total_latency_ms) == (812.5, 901.0)
    assert done.finished_at is not None


async def test_fail_keeps_the_provider_it_already_had(store: Store) -> None:
    created = await store.create_generation(new())
    await store.fail_generation(
        created.id, status=GenerationStatus.BLOCKED, error="blocked", provider="fal"
    )
    await store.fail_generation(created.id, status=GenerationStatus.FAILED, error="timeout")
    failed = await store.get_generation(created.id)
    assert failed is not None
    assert (failed.status, failed.error, failed.provider) == (
        GenerationStatus.FAILED,
        "timeout",
        "fal",
    )


async def test_latest_and_by_message(store: Store) -> None:
    first = await store.create_generation(new())
    second = await store.create_generation(new(kind="vary", parent_id=first.id))
    await store.create_generation(new())  # pending: not what /vary starts from
    other_user = await store.create_generation(new(user_id=2))
    for generation in (first, second, other_user):
        await store.complete_generation(
            generation.id,
            provider="local",
            model_id="m",
            seeds=[1],
            cost_usd=0.0,
            cost_source="free",
            provider_latency_ms=1.0,
            total_latency_ms=2.0,
        )
    latest = await store.latest_generation(1)
    assert latest is not None
    assert (latest.id, latest.kind, latest.parent_id) == (second.id, "vary", first.id)
    assert await store.latest_generation(99) is None

    await store.set_message(first.id, 555)
    by_message = await store.generation_by_message(555)
    assert by_message is not None
    assert (by_message.id, by_message.message_id) == (first.id, 555)
    assert await store.generation_by_message(556) is None


async def test_recent_generations_page_newest_first(store: Store) -> None:
    ids = [(await store.create_generation(new(prompt=f"prompt {i}"))).id for i in range(7)]
    await store.create_generation(new(user_id=2))
    first = await store.recent_generations(1, limit=3)
    second = await store.recent_generations(1, limit=3, offset=3)
    assert [r.id for r in first] == ids[::-1][:3]
    assert [r.id for r in second] == ids[::-1][3:6]


async def test_interrupting_pending_generations_after_a_crash(store: Store) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.storage.models import EffectiveLimits, ReservationRequest

    running = await store.create_generation(new())
    finished = await store.create_generation(new())
    await store.complete_generation(
        finished.id,
        provider="local",
        model_id="m",
        seeds=[1],
        cost_usd=0.0,
        cost_source="reported",
        provider_latency_ms=1.0,
        total_latency_ms=2.0,
    )
    now = datetime.now(UTC) + timedelta(seconds=1)
    unlimited = EffectiveLimits(None, None, None, None, None, None)
    held = await store.reserve(ReservationRequest(1, 10, 2, 0.04, running.id), unlimited, now=now)
    pending = await store.pending_generations(now)
    assert [r.id for r in pending] == [running.id]
    earlier = running.created_at - timedelta(seconds=1)
    assert await store.pending_generations(earlier) == []  # only ones started before
    assert await store.interrupt_generation(running.id, now=now) is True
    assert await store.interrupt_generation(running.id, now=now) is False  # once only
    assert await store.interrupt_generation(finished.id, now=now) is False
    assert await store.release_reservations_for(running.id, "interrupted", now=now) == 1
    assert await store.release_reservations_for(running.id, "interrupted", now=now) == 0
    record = await store.get_generation(running.id)
    assert record is not None
    assert record.status is GenerationStatus.INTERRUPTED
    reservation = await store.get_reservation(held.id)  # type: ignore[union-attr]
    assert reservation is not None
    assert reservation.status == "released"


async def test_a_loading_message_known_at_creation_finds_the_result_once_it_succeeded(
    store: Store,
) -> None:
    pending = await store.create_generation(new(message_id=777))
    failed = await store.create_generation(new(message_id=778))
    assert pending.message_id == 777
    assert await store.generation_by_message(777) is None  # not a result yet
    await store.fail_generation(failed.id, status=GenerationStatus.FAILED, error="boom")
    assert await store.generation_by_message(778) is None  # never a result
    await store.complete_generation(
        pending.id,
        provider="local",
        model_id="m",
        seeds=[1],
        cost_usd=0.0,
        cost_source="reported",
        provider_latency_ms=1.0,
        total_latency_ms=2.0,
    )
    found = await store.generation_by_message(777)
    assert found is not None
    assert found.id == pending.id
