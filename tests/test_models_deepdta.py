"""models.DeepDTA against a torch module with the same attribute names loaded with our state_dict
(affinities, parameter gradients), the concordance index, bad input, and `fastlayers demo deepdta
--quick` (held-out concordance index, the `result ci` line)."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers.cli import main
from fastlayers.demo import deepdta as demo
from fastlayers.models import DeepDTA
from fastlayers.models.deepdta import concordance_index

from helpers import assert_close

CFG = dict(embed_dim=6, protein_filters=(5, 7), drug_filters=(4,), protein_kernel=4, drug_kernel=3, hidden=(9,),
           dropout=0.0)


def _torch_deepdta(torch, pv, dv, embed_dim, protein_filters, drug_filters, protein_kernel, drug_kernel, hidden,
                   dropout):
    tnn = torch.nn

    class Seq(tnn.Module):
        def __init__(self, vocab, filters, k):
            super().__init__()
            self.embedding = tnn.Embedding(vocab, embed_dim, padding_idx=0)
            layers, c = [], embed_dim
            for f in filters:
                layers += [tnn.Conv1d(c, f, k), tnn.ReLU()]
                c = f
            self.convs = tnn.Sequential(*layers)

        def forward(self, ids):
            return self.convs(self.embedding(ids).transpose(1, 2)).amax(dim=2)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.protein = Seq(pv, protein_filters, protein_kernel)
            self.drug = Seq(dv, drug_filters, drug_kernel)
            layers, c = [], protein_filters[-1] + drug_filters[-1]
            for h in hidden:
                layers += [tnn.Linear(c, h), tnn.ReLU()]
                c = h
            self.head = tnn.Sequential(*layers, tnn.Linear(c, 1))

        def forward(self, p, d):
            return self.head(torch.cat([self.protein(p), self.drug(d)], 1))[:, 0]

    return Net()


def test_deepdta_matches_torch(torch, rng):
    fastlayers.manual_seed(3)
    ours = DeepDTA(11, 7, **CFG)
    theirs = _torch_deepdta(torch, 11, 7, **CFG).double()
    theirs.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in ours.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    p, d = rng.integers(0, 11, (5, 14)), rng.integers(0, 7, (5, 9))
    g = rng.standard_normal(5).astype(np.float32)
    y = ours(p, d)
    ours.backward(g)
    ty = theirs(torch.tensor(p), torch.tensor(d))
    (ty * torch.tensor(g, dtype=torch.float64)).sum().backward()
    assert_close(y, ty.detach().numpy(), rtol=1e-4, atol=1e-5, what="affinity")
    tgrads = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, tgrads[name].grad.numpy(), rtol=1e-3, atol=1e-5, what=f"{name}.grad")


def test_deepdta_bad_input_and_predict(rng):
    m = DeepDTA(11, 7, **CFG)
    with pytest.raises(ValueError, match="ids: expected"):
        m(rng.integers(0, 11, (2, 5)), rng.integers(0, 7, (2, 9)))
    with pytest.raises(ValueError, match="drug_ids: expected 2 rows"):
        m(rng.integers(0, 11, (2, 14)), rng.integers(0, 7, (3, 9)))
    p, d = rng.integers(0, 11, (7, 14)), rng.integers(0, 7, (7, 9))
    assert m.predict(p, d, batch_size=3).shape == (7,) and m.training


def test_concordance_index():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert concordance_index(y, y * 10) == 1.0
    assert concordance_index(y, -y) == 0.0
    assert concordance_index(y, np.zeros(4)) == 0.5
    assert concordance_index(y, [1.0, 3.0, 2.0, 4.0]) == pytest.approx(5 / 6)


def test_planted_rule_is_fixed_and_pairs_are_seeded():
    assert demo.planted_rule()["protein_motifs"] == demo.planted_rule()["protein_motifs"]
    a = demo.make_pairs(20, 10, 10, np.random.default_rng(0), demo.planted_rule())
    b = demo.make_pairs(20, 10, 10, np.random.default_rng(0), demo.planted_rule())
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == (20, demo.PROTEIN_LEN[1]) and a[1].shape == (20, demo.DRUG_LEN[1])


def test_demo_deepdta_quick(capsys):
    assert main(["demo", "deepdta", "--quick"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert last[:2] == ["result", "ci"]
    assert float(last[2]) >= 0.65
    assert main(["demo", "deepdta", "--steps", "0"]) == 2
