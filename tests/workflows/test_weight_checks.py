"""The workflow's own check of read-back weights (beside each shifter's verify), and when it reads
the weights again after a write."""

from meshshift.migration.contracts import READ_EDGE_WEIGHTS, SET_EDGE_WEIGHTS, ShifterReading, ShifterWeights
from meshshift.workflows.migration import weight_mismatches
from tests.workflows.harness import make_spec, running_worker, start, world_for


def _cf(blue: float, green: float, promoted: bool) -> ShifterWeights:
    return ShifterWeights(shifter_id="cloudfront:E1", mechanism="cloudfront", blue=blue, green=green, promoted=promoted)


def _read(blue: float, green: float, promoted: bool) -> ShifterReading:
    return ShifterReading(
        shifter_id="cloudfront:E1",
        mechanism="cloudfront",
        blue=blue,
        green=green,
        promoted=promoted,
        green_percent=100.0 if promoted else green * 100,
    )


def test_promoted_cloudfront_matches_whatever_its_unused_policy_weight() -> None:
    # After promotion the policy still says 15% staging; the primary serves green regardless.
    assert weight_mismatches([_cf(0.85, 0.15, True)], [_read(0.85, 0.15, True)]) == []
    assert weight_mismatches([_cf(0.0, 1.0, True)], [_read(0.85, 0.15, True)]) == []


def test_not_promoted_when_promotion_expected_is_a_mismatch() -> None:
    assert weight_mismatches([_cf(0.85, 0.15, True)], [_read(0.85, 0.15, False)])


def test_staging_weight_compared_before_promotion() -> None:
    assert weight_mismatches([_cf(0.95, 0.05, False)], [_read(0.95, 0.05, False)]) == []
    assert weight_mismatches([_cf(0.95, 0.05, False)], [_read(0.99, 0.01, False)])


async def test_a_write_that_reads_back_as_written_needs_no_second_read(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [50, 100], "bake": "PT0S"}, alarms=[])
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        report = await (await start(env_timeskipping, task_queue, body)).result()
    assert report.outcome == "completed"
    assert world.calls[SET_EDGE_WEIGHTS.name] == 2
    assert world.calls[READ_EDGE_WEIGHTS.name] == 0


async def test_a_write_still_propagating_is_read_again_until_in_sync(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [50, 100], "bake": "PT0S"}, alarms=[])
    world = world_for(body)
    world.unsynced_writes = 1
    async with running_worker(env_timeskipping, world, task_queue):
        report = await (await start(env_timeskipping, task_queue, body)).result()
    assert report.outcome == "completed"
    assert world.calls[SET_EDGE_WEIGHTS.name] == 2
    assert world.calls[READ_EDGE_WEIGHTS.name] == 1
