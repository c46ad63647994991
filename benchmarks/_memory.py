"""Peak memory of this process and all its children together (worker processes included).

This process counts with its resident set; each child with its unique set (USS), so pages a
forked worker shares with its parent are counted once.
"""

from __future__ import annotations

import os
import threading
import time


class TreePeak:
    """Samples the summed RSS of this process tree every ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 0.25) -> None:
        import psutil

        self._proc = psutil.Process(os.getpid())
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _sample(self) -> int:
        import psutil

        total = self._proc.memory_info().rss
        for p in self._proc.children(recursive=True):
            try:
                total += p.memory_full_info().uss
            except psutil.Error:
                pass
        return total

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(interval)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_gb(self) -> float:
        return self.peak / 2**30
