"""Parameter, the Module base class and the containers Sequential, Identity, Flatten.

Modules follow the explicit layer style of DESIGN.md: ``y = m(x)`` caches what backward
needs (training mode only); ``dx = m.backward(dy)`` returns the input gradient and
accumulates ``param.grad``; in ``eval()`` mode nothing is cached. Parameter and buffer names
are PyTorch's, so ``load_state_dict`` takes a PyTorch ``state_dict`` (tensors or arrays) as is.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Iterator

import numpy as np

from .._backend import DEVICE, operand
from .._backend import device as _device
from .._backend.host import as_f32


# What load_state_dict returns, as torch.nn.Module's: (missing_keys, unexpected_keys).
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def factory_device(device=None, dtype=None):
    """Checks a constructor's PyTorch factory keywords before anything is allocated and returns
    the GPU index to move the new module to (None: it stays on the host).

    device: None, 'cpu', 'cuda', 'cuda:N', an int N (cuda:N) or a torch.device; a GPU device
    needs a usable GPU (RuntimeError otherwise). dtype: None or float32 (a NumPy dtype, its name
    or torch.float32): parameters are float32, anything else is a TypeError."""
    if dtype is not None:
        spec = str(dtype)[6:] if str(dtype).startswith("torch.") else dtype
        try:
            ok = np.dtype(spec) == np.float32
        except TypeError:
            ok = False
        if not ok:
            raise TypeError(f"dtype: fastlayers modules hold float32 parameters, got {dtype!r}")
    if device is None:
        return None
    if isinstance(device, (int, np.integer)) and not isinstance(device, bool):
        device = f"cuda:{int(device)}"
    return _device.parse_device(device)


class Parameter:
    """A trainable float32 array (``data``) and its accumulated gradient (``grad``, None
    until a backward writes it)."""

    __slots__ = ("data", "grad")

    def __init__(self, data):
        if _device.is_gpu(data):  # a device parameter: a float32 copy on data's GPU
            self.data = DEVICE.operand(data, "data").copy()
        else:
            self.data = np.array(as_f32(data, "data"), dtype=np.float32, copy=True, order="C")
        self.grad = None

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def size(self) -> int:
        return self.data.size

    def numpy(self) -> np.ndarray:
        return self.data

    def accumulate(self, g: np.ndarray) -> None:
        """grad += g; takes ownership of g when grad is None (g must be a fresh array)."""
        if self.grad is None:
            self.grad = g
        elif isinstance(self.grad, np.ndarray):
            self.grad += g
        else:  # on the GPU
            DEVICE.add_(self.grad, g)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, grad={'set' if self.grad is not None else 'None'})"


class Module:
    """Base class of every layer. Subclasses implement forward(x) and backward(dy) and
    assign Parameters, buffers (register_buffer) and child Modules as attributes."""

    _accepts_activation = False  # forward(x, activation=...) fuses a following activation (Linear)
    _skips_input_grad = False    # backward(dy, need_input_grad=False) skips dx (Linear, Maxout, Sequential)

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        # Parameters, buffers and children are kept in their registries (for traversal) and in
        # the instance dict too (so that self.weight is a plain, fast attribute lookup).
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif name in self._buffers:  # assigning to a registered buffer updates it, as in PyTorch
            value = _buffer_value(value)
            self._buffers[name] = value
        else:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def register_buffer(self, name: str, value) -> None:
        """A float array saved in state_dict but not trained (e.g. BatchNorm running stats)."""
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = _buffer_value(value)
        object.__setattr__(self, name, self._buffers[name])

    # ---- the layer API ----
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def backward(self, grad_out):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _saved(self, value, what: str = "input"):
        """The value forward cached, or a clear error when there is none."""
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward: no saved {what}; call forward in training "
                               "mode (model.train()) before backward")
        return value

    def _take(self, attr: str, what: str = "input"):
        """What forward cached in attribute `attr`, consumed: backward uses each forward's cache
        once, so a second backward after one forward (or one before any forward, or after a
        forward in eval mode) is a RuntimeError instead of gradients from a stale cache."""
        value = self.__dict__.get(attr)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward: no saved {what}: call forward in training mode "
                               "(model.train()) before backward, and backward once per forward (it consumes "
                               "what forward saved)")
        object.__setattr__(self, attr, None)
        return value

    def _placed(self, device_index) -> None:
        """Ends a constructor that took device=: moves the module to GPU device_index (from
        factory_device; None leaves it on the host)."""
        if device_index is not None:
            self.to(f"cuda:{device_index}")

    # ---- traversal ----
    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def named_children(self):
        return iter(self._modules.items())

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix: str = "", remove_duplicate: bool = True):
        """(dotted name, Parameter) pairs; a Parameter shared by several modules (tied weights)
        comes once, under its first name, unless remove_duplicate=False (as PyTorch)."""
        seen = set()
        for mp, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if p is not None and (not remove_duplicate or id(p) not in seen):
                    seen.add(id(p))
                    yield (f"{mp}.{name}" if mp else name), p

    def parameters(self) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters())

    def named_buffers(self, prefix: str = ""):
        for mp, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mp}.{name}" if mp else name), b

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # ---- modes and gradients ----
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
            if not mode:
                m.clear_cache()
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def clear_cache(self) -> None:
        """Drops what forward cached for backward (called by eval())."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif isinstance(p.grad, np.ndarray):
                p.grad[...] = 0.0
            elif p.grad is not None:
                DEVICE.copy_from_host(p.grad, np.zeros(p.grad.shape, np.float32))

    def to(self, device) -> "Module":
        """Moves every parameter and float buffer, in place, to 'cpu' (NumPy arrays) or to
        'cuda' / 'cuda:N' (fastlayers.cuda Arrays; RuntimeError without a usable GPU), and
        drops the gradients. Every module then runs on the device: its functional ops run where
        their arguments live. Returns self."""
        index = _device.parse_device(device)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.data, p.grad = _device.move(p.data, index), None
            for k, b in m._buffers.items():
                m._buffers[k] = _device.move(b, index)
                object.__setattr__(m, k, m._buffers[k])
            m.clear_cache()
        return self

    # ---- state ----
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Host (NumPy) copies of every parameter and buffer, keyed by PyTorch's dotted names."""
        sd = OrderedDict()
        for mp, m in self.named_modules():  # per module: parameters, then buffers (PyTorch's order)
            pre = f"{mp}." if mp else ""
            sd.update((pre + k, _device.host_copy(p.data)) for k, p in m._parameters.items() if p is not None)
            sd.update((pre + k, _device.host_copy(b)) for k, b in m._buffers.items() if b is not None)
        return sd

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copies arrays (or PyTorch tensors) into the parameters and buffers in place.

        strict=True: missing or unexpected keys are a RuntimeError listing them (as PyTorch's),
        and nothing is copied; a shape mismatch is always a ValueError naming the key. Returns
        PyTorch's named tuple (missing_keys, unexpected_keys).
        """
        own = OrderedDict(self.named_parameters(remove_duplicate=False))
        bufs = OrderedDict(self.named_buffers())
        missing = [k for k in list(own) + list(bufs) if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own and k not in bufs
                      and not k.endswith("num_batches_tracked")]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                parts.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(parts))
        for k, v in state_dict.items():
            if k not in own and k not in bufs:
                continue
            arr = _to_numpy(v, k)
            target = own[k].data if k in own else bufs[k]
            if arr.shape != target.shape:
                raise ValueError(f"load_state_dict: {k} has shape {arr.shape}, the model expects {target.shape}")
            if isinstance(target, np.ndarray):
                np.copyto(target, arr, casting="unsafe")
            else:  # a parameter or buffer on the GPU
                DEVICE.copy_from_host(target, arr)
        return IncompatibleKeys(missing, unexpected)

    # ---- repr ----
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")


def _buffer_value(value):
    """A buffer as stored: None, a device array as it is, or a contiguous NumPy array."""
    if value is None or _device.is_gpu(value):
        return value
    return np.ascontiguousarray(value)


def _to_numpy(v, key: str) -> np.ndarray:
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor
        v = v.detach().cpu().numpy()
    arr = np.asarray(v)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"load_state_dict: {key} has dtype {arr.dtype}, expected real numbers")
    return arr


class Sequential(Module):
    """Children run in order; backward runs their backward in reverse."""

    _skips_input_grad = True

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, m: Module) -> "Sequential":
        self._modules[str(len(self._modules))] = m
        return self

    def forward(self, x):
        # A layer that takes activation= (Linear) followed by an activation module with a
        # fuse_spec runs as one fused GEMM; the activation module keeps the output for its backward.
        mods = list(self._modules.values())
        i, n = 0, len(mods)
        while i < n:
            m = mods[i]
            spec = None
            if m._accepts_activation and i + 1 < n:
                spec = getattr(mods[i + 1], "fuse_spec", lambda: None)()
            if spec is None:
                x = m(x)
                i += 1
            else:
                x = m.forward(x, activation=spec)
                mods[i + 1].save_fused_output(x)
                i += 2
        return x

    def backward(self, grad_out, need_input_grad: bool = True):
        """Children's backward in reverse; returns dL/dinput. need_input_grad=False (when the
        input is data, not a layer's output) stops after the first module with parameters and
        returns None, skipping work whose result would be thrown away."""
        mods = list(self._modules.values())
        stop = 0
        if not need_input_grad:
            stop = next((i for i, m in enumerate(mods) if any(True for _ in m.parameters())), len(mods))
        for i in range(len(mods) - 1, stop - 1, -1):
            m = mods[i]
            if i == stop and not need_input_grad:
                if m._skips_input_grad:
                    return m.backward(grad_out, need_input_grad=False)
                m.backward(grad_out)
                return None
            grad_out = m.backward(grad_out)
        return None if not need_input_grad else grad_out


class ModuleList(Module):
    """Holds modules in order under the keys "0", "1", ... (torch.nn.ModuleList's state_dict names);
    it has no forward: its owner calls the children."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m: Module) -> "ModuleList":
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList: got a {type(m).__name__}, not a Module")
        self._modules[str(len(self._modules))] = m
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return ModuleList(mods[i]) if isinstance(i, slice) else mods[i]

    def __iter__(self):
        return iter(self._modules.values())


class Identity(Module):
    def forward(self, x):
        return x

    def backward(self, grad_out):
        return grad_out


class Flatten(Module):
    """Flattens dimensions start_dim..end_dim into one (a view; backward reshapes back)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim
        self._shape = None

    def forward(self, x):
        x = operand(x, "input")
        nd = max(x.ndim, 1)
        s, e = self.start_dim % nd, self.end_dim % nd
        if s > e:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} "
                             f"for input of shape {x.shape}")
        if self.training:
            self._shape = x.shape
        return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:]) if x.ndim else x.reshape(1)

    def backward(self, grad_out):
        return operand(grad_out, "grad_out").reshape(self._take("_shape", "input shape"))

    def clear_cache(self) -> None:
        self._shape = None

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
