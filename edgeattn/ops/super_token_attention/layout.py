"""The super-token grid: padding, cell sizes and the 3x3 neighbour tables every form shares.

A token map [H0, W0] is zero-padded at the bottom/right to multiples of the super-token size
(h, w) and cut into hh x ww cells of T = h * w tokens; cell m = i * ww + j holds super token m.
Direction k = ky * 3 + kx (ky, kx in 0..2) points from a cell to its neighbour
(i + ky - 1, j + kx - 1), the order of a 3x3 unfold with padding 1.
"""

from __future__ import annotations

from dataclasses import dataclass

NEIGHBOURS = 9
"""Super tokens each token associates with: its own cell's and the 8 around it."""

EPS = 1e-12
"""Added to the association mass of each super token before the division (as in the paper's code)."""


@dataclass(frozen=True)
class StokenGrid:
    """Token map [height, width] in cells of [cell_h, cell_w] tokens."""

    height: int
    width: int
    cell_h: int
    cell_w: int

    @property
    def rows(self) -> int:
        """hh: cell rows after zero padding."""
        return -(-self.height // self.cell_h)

    @property
    def cols(self) -> int:
        """ww: cell columns after zero padding."""
        return -(-self.width // self.cell_w)

    @property
    def cells(self) -> int:
        """M = hh * ww super tokens."""
        return self.rows * self.cols

    @property
    def tokens_per_cell(self) -> int:
        """T = h * w tokens per cell (padding tokens included)."""
        return self.cell_h * self.cell_w

    @property
    def padded(self) -> tuple[int, int]:
        """(H, W) of the zero-padded map."""
        return self.rows * self.cell_h, self.cols * self.cell_w

    def neighbour(self, cell: int, direction: int) -> int | None:
        """The cell `direction` points to from `cell`, or None outside the grid."""
        i = cell // self.cols + direction // 3 - 1
        j = cell % self.cols + direction % 3 - 1
        if 0 <= i < self.rows and 0 <= j < self.cols:
            return i * self.cols + j
        return None

    def neighbour_table(self) -> list[int]:
        """[M * 9] flat: neighbour cell of (cell, direction), or M (a zero row) outside the grid."""
        return [
            self.cells if (n := self.neighbour(m, k)) is None else n
            for m in range(self.cells)
            for k in range(NEIGHBOURS)
        ]

    def fold_table(self) -> list[int]:
        """[M * 9] flat: for super token m and direction k, the flat index (cell * 9 + k) of the cell
        whose direction k points at m, or M * 9 (a zero row) when that cell is outside the grid."""
        table = []
        for m in range(self.cells):
            for k in range(NEIGHBOURS):
                source = self.neighbour(m, NEIGHBOURS - 1 - k)
                table.append(self.cells * NEIGHBOURS if source is None else source * NEIGHBOURS + k)
        return table
