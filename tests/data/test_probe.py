from hypothesis import given
from hypothesis import strategies as st

from lightning_pse.data import probe_indices, shard_batches


def test_probe_indices_are_deterministic_sorted_and_unique():
    a = probe_indices(1000, 50, seed=1)
    assert a == probe_indices(1000, 50, seed=1) and a != probe_indices(1000, 50, seed=2)
    assert a == sorted(set(a)) and len(a) == 50 and max(a) < 1000
    assert probe_indices(10, None) == list(range(10)) == probe_indices(10, 99)


@given(st.integers(0, 200), st.integers(1, 16), st.integers(1, 8))
def test_batch_shards_are_disjoint_cover_without_padding_and_keep_batches_whole(n, batch_size, world_size):
    shards = [shard_batches(n, batch_size, r, world_size) for r in range(world_size)]
    flat = [i for shard in shards for batch in shard for i in batch]
    assert sorted(flat) == list(range(n)) and len(flat) == len(set(flat))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    # The same batches whatever the number of ranks.
    single = shard_batches(n, batch_size, 0, 1)
    assert sorted(b for shard in shards for b in shard) == single
