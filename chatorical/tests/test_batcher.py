"""The Batcher: calls that arrive while others run go together, each caller gets its own result."""

import asyncio

import pytest

from chatorical.batcher import Batcher, per_event_loop


async def settle():
    """Lets the tasks started so far run until they wait."""
    for _ in range(5):
        await asyncio.sleep(0)


class Recorder:
    """A batch runner that records its batches and finishes when the test lets it."""

    def __init__(self):
        self.batches: list[list] = []
        self.release = asyncio.Event()

    async def __call__(self, items):
        self.batches.append(items)
        await self.release.wait()
        return [ValueError(item) if item == "bad" else item.upper() for item in items]


async def test_an_idle_batcher_runs_a_call_at_once():
    recorder = Recorder()
    recorder.release.set()
    batcher = Batcher(recorder, max_batch=10, max_in_flight=1)
    assert await batcher.submit("a") == "A"
    assert recorder.batches == [["a"]]


async def test_calls_made_while_a_batch_runs_go_together_and_each_gets_its_result():
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=3, max_in_flight=1)
    calls = [batcher.submit(item) for item in "abcdef"]
    await settle()
    recorder.release.set()
    assert await asyncio.gather(*calls) == list("ABCDEF")
    assert recorder.batches == [["a"], ["b", "c", "d"], ["e", "f"]]


async def test_batches_in_flight_are_bounded():
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=100, max_in_flight=2)
    calls = [batcher.submit(item) for item in "abcd"]
    await settle()
    assert recorder.batches == [["a"], ["b"]]
    recorder.release.set()
    await asyncio.gather(*calls)
    assert recorder.batches == [["a"], ["b"], ["c", "d"]]


async def test_calls_of_a_key_in_a_running_batch_wait_for_it_and_keep_their_order():
    """Keyed by the first letter: the a of a running batch holds back the later a's, while
    a free key starts a batch at once; each key's calls go in order, in one batch at a time."""
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=10, max_in_flight=3, key=lambda item: item[0])
    calls = [batcher.submit(item) for item in ("a1", "a2", "b1", "a3", "b2")]
    await settle()
    assert recorder.batches == [["a1"], ["b1"]]  # a slot is free, but no waiting call may use it
    recorder.release.set()
    assert await asyncio.gather(*calls) == ["A1", "A2", "B1", "A3", "B2"]
    assert sorted(recorder.batches[2:]) == [["a2", "a3"], ["b2"]]


async def test_calls_gather_behind_a_running_batch_until_it_has_stalled():
    """One batch at a time while batches are quick; once the running one has taken
    stall_seconds (stuck on a lock, say), the calls behind it start a batch of their own,
    without the stuck batch's key."""
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=10, max_in_flight=2, stall_seconds=0.05, key=lambda item: item[0])
    calls = [batcher.submit("a1")]
    await settle()
    calls += [batcher.submit(item) for item in ("b1", "a2", "c1")]
    await settle()
    assert recorder.batches == [["a1"]]
    await asyncio.sleep(0.1)
    assert recorder.batches == [["a1"], ["b1", "c1"]]
    recorder.release.set()
    assert await asyncio.gather(*calls) == ["A1", "B1", "A2", "C1"]
    assert recorder.batches == [["a1"], ["b1", "c1"], ["a2"]]


async def test_a_full_batch_leaves_the_rest_of_a_free_key_for_the_next_batch():
    recorder = Recorder()
    recorder.release.set()
    batcher = Batcher(recorder, max_batch=2, max_in_flight=1, key=lambda item: item[0])
    blocker = batcher.submit("z")
    calls = [batcher.submit(item) for item in ("a1", "a2", "a3", "b1")]
    assert await asyncio.gather(blocker, *calls) == ["Z", "A1", "A2", "A3", "B1"]
    assert recorder.batches == [["z"], ["a1", "a2"], ["a3", "b1"]]


async def test_an_error_result_goes_to_its_caller_alone():
    recorder = Recorder()
    recorder.release.set()
    batcher = Batcher(recorder, max_batch=10, max_in_flight=1)
    results = await asyncio.gather(*(batcher.submit(item) for item in ["x", "bad", "y"]), return_exceptions=True)
    assert results[0] == "X" and results[2] == "Y"
    assert isinstance(results[1], ValueError)


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs():
    runs = []

    async def flaky(items):
        runs.append(items)
        if len(runs) == 1:
            raise ConnectionError("down")
        return items

    batcher = Batcher(flaky, max_batch=10, max_in_flight=1)
    with pytest.raises(ConnectionError):
        await batcher.submit(1)
    assert await batcher.submit(2) == 2


async def test_a_cancelled_caller_does_not_disturb_the_batch():
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=10, max_in_flight=1)
    first = batcher.submit("a")
    gone, kept = batcher.submit("b"), batcher.submit("c")
    await settle()
    gone.cancel()
    recorder.release.set()
    assert (await first, await kept) == ("A", "C")
    assert recorder.batches == [["a"], ["b", "c"]]


async def test_callers_of_a_cancelled_batch_are_cancelled_too():
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=10, max_in_flight=1)
    call = batcher.submit("a")
    await settle()
    (running,) = [task for task in asyncio.all_tasks() if task.get_coro().__name__ == "_run_batch"]
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


def test_each_event_loop_gets_its_own_instance():
    get = per_event_loop(object)

    async def twice():
        return get(), get()

    first_a, first_b = asyncio.run(twice())
    second_a, _ = asyncio.run(twice())
    assert first_a is first_b
    assert first_a is not second_a
