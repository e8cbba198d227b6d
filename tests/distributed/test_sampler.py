"""DistributedSampler-style sharding of fastlayers.data.batches / DataLoader (no MPI needed):
disjoint shards whose k-th batches together are the k-th single-process batch; and the
install hint of `--distributed` where mpi4py is missing."""
import numpy as np
import pytest

from fastlayers.data import DataLoader, batches


@pytest.mark.parametrize("n,bs,world,drop_last", [(203, 16, 2, False), (100, 8, 4, False), (7, 3, 2, False),
                                                  (203, 16, 2, True), (5, 1, 4, False)])
def test_shards_are_disjoint_and_make_the_global_batch(n, bs, world, drop_last):
    X, y = np.arange(n, dtype=np.float32)[:, None], np.arange(n)
    single = [yb for _, yb in batches(X, y, bs * world, seed=5, drop_last=drop_last)]
    shards = [[yb for _, yb in batches(X, y, bs, seed=5, drop_last=drop_last, num_replicas=world, rank=r)]
              for r in range(world)]
    assert all(len(s) == len(single) for s in shards)  # every rank takes as many steps
    for k, yb in enumerate(single):
        parts = [s[k] for s in shards]
        assert all(len(p) <= bs for p in parts)
        assert sorted(np.concatenate(parts).tolist()) == sorted(yb.tolist())
    taken = np.concatenate([b for s in shards for b in s])
    assert len(np.unique(taken)) == len(taken)


def test_the_shards_reshuffle_per_epoch_from_the_shared_seed():
    X, y = np.zeros((64, 1), np.float32), np.arange(64)
    loaders = [DataLoader(X, y, 8, seed=3, num_replicas=2, rank=r) for r in range(2)]
    assert len(loaders[0]) == 4
    e1 = [np.concatenate([yb for _, yb in dl]) for dl in loaders]
    e2 = [np.concatenate([yb for _, yb in dl]) for dl in loaders]
    assert not np.array_equal(e1[0], e2[0])
    for epoch in (e1, e2):
        assert sorted(np.concatenate(epoch).tolist()) == list(range(64))


def test_bad_sharding_arguments_are_named():
    X, y = np.zeros((8, 1), np.float32), np.arange(8)
    with pytest.raises(ValueError, match="rank"):
        list(batches(X, y, 2, seed=0, num_replicas=2, rank=2))
    with pytest.raises(ValueError, match="num_replicas"):
        list(batches(X, y, 2, seed=0, num_replicas=0))
    with pytest.raises(ValueError, match="seed"):
        list(batches(X, y, 2, num_replicas=2, rank=0))
    with pytest.raises(ValueError, match="seed"):
        DataLoader(X, y, 2, num_replicas=2, rank=1)


def test_distributed_demo_without_mpi4py_prints_the_install_hint(monkeypatch, capsys):
    import sys

    from fastlayers.cli import main
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    assert main(["demo", "mlp", "--distributed", "--epochs", "1"]) == 2
    assert "fastlayers[mpi]" in capsys.readouterr().err
