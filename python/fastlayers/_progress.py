"""Progress bars on stderr for the demos and `fastlayers bench`.

On a terminal: tqdm when it is installed (an optional dependency, in the `demo` extra), else a
small built-in bar redrawn in place. Elsewhere (a log, a pipe): the built-in bar as a line
every ~10%. Lines the program prints meanwhile go through Progress.write, which clears the bar
first, so results on stdout and the bar on stderr never tear each other on one terminal.
"""
from __future__ import annotations

import sys
import time


def progress(total: int = 0, desc: str = "", unit: str = "it", stream=None):
    """A bar over `total` steps (grow() adds steps later): update(n, **fields), write(line),
    close(); also a context manager."""
    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        try:
            import tqdm  # noqa: F401
        except ImportError:
            pass
        else:
            return _Tqdm(total, desc, unit, stream)
    return _Builtin(total, desc, unit, stream)


class _Base:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Builtin(_Base):
    def __init__(self, total, desc, unit, stream, width: int = 24):
        self.total, self.desc, self.unit, self.stream, self.width = total, desc, unit, stream, width
        self.done, self.fields, self.t0 = 0, {}, time.perf_counter()
        self.live = getattr(stream, "isatty", lambda: False)()
        self._next_line = 0  # off a terminal: the step at which the next line is printed

    def _line(self) -> str:
        frac = self.done / self.total if self.total else 0.0
        filled = int(self.width * min(frac, 1.0))
        bar = "#" * filled + "-" * (self.width - filled)
        count = f"{self.done:>{len(str(self.total))}}/{self.total}"
        info = "  ".join(f"{k} {v}" for k, v in self.fields.items())
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        return f"{self.desc} {count} [{bar}] {info}".rstrip() + (f"  {rate:.1f} {self.unit}/s" if not info else "")

    def _draw(self) -> None:
        if self.live:
            self.stream.write("\r" + self._line() + "\033[K")
            self.stream.flush()
        elif self.done >= self._next_line or self.done == self.total:
            print(self._line(), file=self.stream, flush=True)
            self._next_line = self.done + max(1, self.total // 10)

    def update(self, n: int = 1, **fields) -> None:
        self.done += n
        self.fields.update(fields)
        self._draw()

    def grow(self, n: int) -> None:
        self.total += n

    def write(self, line: str, file=None) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
        print(line, file=file or sys.stdout, flush=True)
        if self.live and self.done:
            self._draw()

    def close(self) -> None:
        if self.live and self.done:
            self.stream.write("\n")
            self.stream.flush()
            self.live = False


class _Tqdm(_Base):
    def __init__(self, total, desc, unit, stream):
        from tqdm import tqdm
        self._tqdm = tqdm
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)

    def update(self, n: int = 1, **fields) -> None:
        if fields:
            self.bar.set_postfix(fields, refresh=False)
        self.bar.update(n)

    def grow(self, n: int) -> None:
        self.bar.total = (self.bar.total or 0) + n
        self.bar.refresh()

    def write(self, line: str, file=None) -> None:
        self._tqdm.write(line, file=file or sys.stdout)

    def close(self) -> None:
        self.bar.close()
