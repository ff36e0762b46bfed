"""Training rows read lazily from a saved arrow dataset.

``datasets.load_from_disk`` memory-maps the arrow files: a row is decoded only when it is
indexed, and the pages are shared by every rank of a node through the page cache. The
former ``.to_list()`` decoded the whole dataset into Python objects in every rank (8 copies
of the authors' pre-tokenized set per node). :class:`Rows` is the list-like view the
training loop needs (``len``, ``rows[i]``, slices, iteration), nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence


class Rows(Sequence):
    """Rows of a ``datasets.Dataset``: ``rows[i]`` is the i-th row as a dict of Python values
    (what ``to_list()[i]`` was), a slice is another lazy view."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Rows(self.ds.select(range(len(self.ds))[i]))
        n = len(self.ds)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        return self.ds[int(i) % n]

    def __iter__(self):
        return iter(self.ds)


def load_rows(path) -> Rows:
    """The lazy rows of a dataset saved with ``save_to_disk`` at ``path``."""
    from datasets import load_from_disk

    return Rows(load_from_disk(str(path)))
