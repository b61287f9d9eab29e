"""Progress bars drawn from Python, so that they show in a terminal and in a notebook cell
alike: tqdm (``tqdm.auto``) when it is installed, else a plain one-line bar written to
``sys.stderr`` or ``sys.stdout``."""

import sys
import time
from typing import Callable, Optional, TextIO


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


class _PlainBar:
    def __init__(self, desc: str, stream: TextIO) -> None:
        self.desc, self.stream, self.start, self.last_draw = desc, stream, time.monotonic(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last_draw < 0.2:
            return
        self.last_draw = now
        rate = done / max(now - self.start, 1e-6)
        frac = done / total if total else 1.0
        width = 30
        filled = int(frac * width)
        eta = (total - done) / rate if rate > 0 else 0
        self.stream.write(
            f"\r{self.desc} [{'=' * filled}{' ' * (width - filled)}] {_human(done)}/{_human(total)} "
            f"{_human(rate)}/s ETA {eta:.0f}s"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class _TqdmBar:
    def __init__(self, tqdm, desc: str, stream: TextIO) -> None:
        self.bar = tqdm(total=0, desc=desc, file=stream, unit="B", unit_scale=True, unit_divisor=1024)

    def __call__(self, done: int, total: int) -> None:
        if self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def make(show: bool, to_stderr: bool, desc: str) -> Optional[Callable[[int, int], None]]:
    """A callback ``(done, total)`` that draws a bar, or ``None`` when ``show`` is false."""
    if not show:
        return None
    stream = sys.stderr if to_stderr else sys.stdout
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainBar(desc, stream)
    return _TqdmBar(tqdm, desc, stream)


def close(bar: Optional[Callable[[int, int], None]]) -> None:
    if bar is not None:
        bar.close()  # type: ignore[attr-defined]
