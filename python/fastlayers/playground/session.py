"""One page's training session: data, network, optimizer, a trainer thread and the latest frame.

The trainer thread trains while playing and publishes a frame about every FRAME_INTERVAL
seconds into a single slot (``latest``), overwriting the one before: a reader that is slower
than the trainer sees fewer frames, never a backlog. All sessions' kernel calls share one lock,
_COMPUTE (one caller in the kernels' thread pool at a time; always taken before a session's
condition, never after), so sessions are independent in state, not in CPU time.

A frame holds the output's heatmap (P(class 1) over a GRID x GRID plane, uint8, base64), a
heatmap of every input feature and hidden neuron (scaled to [-1, 1] by the largest magnitude,
uint8, base64), every layer's weights (out x in, maxout pieces averaged), and the losses.
"""
from __future__ import annotations

import base64
import threading
import time

import numpy as np

from .. import nn, optim
from ..data import batches, make_dataset, train_test_split
from .._random import manual_seed
from .params import FEATURES, N_SAMPLES

GRID, EXTENT = 50, 6.0
FRAME_INTERVAL = 0.1
MAX_EPOCHS_PER_FRAME = 10

_COMPUTE = threading.Lock()
_FEATURE_FN = {
    "x1": lambda x: x[:, 0], "x2": lambda x: x[:, 1], "x1^2": lambda x: x[:, 0] ** 2,
    "x2^2": lambda x: x[:, 1] ** 2, "x1*x2": lambda x: x[:, 0] * x[:, 1],
    "sin(x1)": lambda x: np.sin(x[:, 0]), "sin(x2)": lambda x: np.sin(x[:, 1]),
}
assert tuple(_FEATURE_FN) == FEATURES


def features(X: np.ndarray, names) -> np.ndarray:
    """The (n, len(names)) float32 input matrix of the chosen features of points X (n, 2)."""
    return np.ascontiguousarray(np.stack([_FEATURE_FN[f](X) for f in names], axis=1), dtype=np.float32)


def _grid_points() -> np.ndarray:
    """GRID*GRID points, row-major from the top-left corner (x1 right, x2 up)."""
    ticks = np.linspace(-EXTENT, EXTENT, GRID, dtype=np.float32)
    x1, x2 = np.meshgrid(ticks, ticks[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def _u8(values: np.ndarray) -> str:
    """base64 of values in [0, 1] quantised to bytes."""
    return base64.b64encode(np.clip(np.rint(values * 255), 0, 255).astype(np.uint8).tobytes()).decode("ascii")


def _signed_map(v: np.ndarray) -> str:
    v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    scale = float(np.abs(v).max())
    return _u8((v / scale + 1) / 2 if scale > 0 else np.full_like(v, 0.5))


def _activation(name: str):
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity, "elu": nn.ELU,
            "leaky_relu": lambda: nn.LeakyReLU(0.1)}[name]()


def build_network(n_inputs: int, layers, activation: str) -> nn.Sequential:
    """Linear + activation per hidden layer (Maxout(pieces=2) for maxout), then Linear(., 2)."""
    mods, width = [], n_inputs
    for h in layers:
        if activation == "maxout":
            mods.append(nn.Maxout(width, h, pieces=2))
        else:
            mods += [nn.Linear(width, h), _activation(activation)]
        width = h
    mods.append(nn.Linear(width, 2))
    return nn.Sequential(*mods)


class Session:
    """Training state of one page. ``control`` plays, pauses, steps and resets; ``close`` ends it."""

    def __init__(self, params: dict):
        self.cond = threading.Condition()
        self.closed = False
        self.playing = False
        self.latest = None  # the newest frame (a dict); `version` counts frames published
        self.version = 0
        self._pending_steps = 0
        with _COMPUTE:
            self._setup(params)
        self._thread = threading.Thread(target=self._run, name="playground-trainer", daemon=True)
        self._thread.start()

    # -- state -------------------------------------------------------------------------------
    def _setup(self, params: dict) -> None:
        """(Re)builds data, network and optimizer from params; epoch 0; publishes a frame."""
        p = self.params = params
        X, y = make_dataset(p["dataset"], N_SAMPLES, p["noise"], seed=p["seed"])
        self.Xtr, self.Xte, self.ytr, self.yte = train_test_split(X, y, test_size=1 - p["train_ratio"], seed=p["seed"])
        self.Ftr, self.Fte = features(self.Xtr, p["features"]), features(self.Xte, p["features"])
        self.Fgrid = features(_grid_points(), p["features"])
        rng = np.random.default_rng(p["seed"])
        manual_seed(int(rng.integers(2**31)))
        self.model = build_network(len(p["features"]), p["layers"], p["activation"])
        cls = optim.Adam if p["optimizer"] == "adam" else optim.SGD
        self.opt = cls(self.model.parameters(), lr=p["learning_rate"])
        self.crit = nn.CrossEntropyLoss()
        self._rng = rng
        self.epoch = 0
        self.dataset_info = {
            "train": {"x": np.round(self.Xtr, 3).tolist(), "y": self.ytr.tolist()},
            "test": {"x": np.round(self.Xte, 3).tolist(), "y": self.yte.tolist()},
            "params": p, "grid": GRID, "extent": EXTENT,
        }
        self._publish()

    def set_params(self, params: dict) -> None:
        """New (validated) parameters: rebuilt from scratch, the play state kept."""
        with _COMPUTE, self.cond:
            self._setup(params)

    def control(self, action: str) -> None:
        """Waits for the trainer's current chunk of epochs, so the epoch reported after a pause is final."""
        if action == "reset":
            return self.set_params(self.params)
        with _COMPUTE, self.cond:
            if action == "play":
                self.playing = True
            elif action == "pause":
                self.playing = False
            elif action == "step":
                self.playing = False
                self._pending_steps += 1
            else:
                raise ValueError(f"action: expected one of play, pause, step, reset, got {action!r}")
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def state(self) -> dict:
        return {"playing": self.playing, "epoch": self.epoch, "closed": self.closed, "params": self.params}

    # -- training ----------------------------------------------------------------------------
    def _penalty_grads(self) -> None:
        """Adds the L1 (rate * sign w) or L2 (rate * w) penalty's gradient to the weights'."""
        kind, rate = self.params["regularization"], self.params["reg_rate"]
        if kind == "none" or rate == 0:
            return
        for name, prm in self.model.named_parameters():
            if name.endswith("weight") and prm.grad is not None:
                prm.grad += rate * (np.sign(prm.data) if kind == "l1" else prm.data)

    def _train_epoch(self) -> None:
        self.model.train()
        seed = int(self._rng.integers(2**63 - 1))
        for xb, yb in batches(self.Ftr, self.ytr, self.params["batch_size"], shuffle=True, seed=seed):
            self.opt.zero_grad()
            self.crit(self.model(xb), yb)
            self.model.backward(self.crit.backward(), need_input_grad=False)
            self._penalty_grads()
            self.opt.step()
        self.epoch += 1

    def _loss(self, F, y) -> float:
        loss = float(self.crit(self.model(F), y))
        return loss if np.isfinite(loss) else -1.0

    def _frame(self) -> dict:
        """Evaluates the grid (every neuron's output) and both losses, in eval mode; a diverged
        network (inf, nan) gives flat maps, zero weights and a loss of -1, never invalid JSON."""
        with np.errstate(all="ignore"):
            return self._frame_values()

    def _frame_values(self) -> dict:
        self.model.eval()
        maps = [_signed_map(self.Fgrid[:, j]) for j in range(self.Fgrid.shape[1])]
        weights, x = [], self.Fgrid
        mods = list(self.model)
        for i, m in enumerate(mods):
            x = m(x)
            if isinstance(m, (nn.Linear, nn.Maxout)):
                w = m.weight.data
                if isinstance(m, nn.Maxout):
                    w = w.reshape(m.out_features, m.pieces, -1).mean(axis=1)
                weights.append(np.round(np.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0), 3).tolist())
            ends_hidden = i + 1 < len(mods) and (isinstance(m, nn.Maxout) or not isinstance(m, nn.Linear))
            if ends_hidden:
                maps += [_signed_map(x[:, j]) for j in range(x.shape[1])]
        z = x - x.max(axis=1, keepdims=True)
        p1 = np.exp(z[:, 1]) / np.exp(z).sum(axis=1)
        tr, te = self._loss(self.Ftr, self.ytr), self._loss(self.Fte, self.yte)
        return {"epoch": self.epoch, "train_loss": tr, "test_loss": te, "output": _u8(np.nan_to_num(p1, nan=0.5)),
                "neurons": maps, "weights": weights, "layers": [len(self.params["features"])] + self.params["layers"],
                "grid": GRID}

    def _publish(self) -> None:
        frame = self._frame()
        with self.cond:
            self.latest = frame
            self.version += 1
            self.cond.notify_all()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.closed and not self.playing and not self._pending_steps:
                    self.cond.wait(1.0)
                if self.closed:
                    return
                stepping = not self.playing
                if stepping:
                    self._pending_steps -= 1
            t0 = time.perf_counter()
            with _COMPUTE:
                n = 0
                while n < (1 if stepping else MAX_EPOCHS_PER_FRAME) and not self.closed:
                    self._train_epoch()
                    n += 1
                    if time.perf_counter() - t0 > FRAME_INTERVAL * 0.8:
                        break
                self._publish()
            time.sleep(max(0.0, FRAME_INTERVAL - (time.perf_counter() - t0)))
