from hypothesis import given, strategies as st

from lightning_pse.data import probe_indices, shard_indices


def test_probe_indices_are_deterministic_sorted_and_unique():
    a = probe_indices(1000, 50, seed=1)
    assert a == probe_indices(1000, 50, seed=1) and a != probe_indices(1000, 50, seed=2)
    assert a == sorted(set(a)) and len(a) == 50 and max(a) < 1000
    assert probe_indices(10, None) == list(range(10)) == probe_indices(10, 99)


@given(st.integers(0, 200), st.integers(1, 8))
def test_shards_are_disjoint_and_cover_without_padding(n, world_size):
    indices = probe_indices(max(n, 1), None)[:n]
    shards = [shard_indices(indices, r, world_size) for r in range(world_size)]
    flat = [i for s in shards for i in s]
    assert sorted(flat) == indices and len(flat) == len(set(flat))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
