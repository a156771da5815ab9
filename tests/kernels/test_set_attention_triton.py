"""SetAttention fused gather + masked attention + write-back (interpreter) vs the reference."""

from __future__ import annotations

import pytest
import torch
from kernel_helpers import DTYPE_IDS, DTYPES, assert_matches, generator, poisoned, randn

from edgeattn.errors import UsageError
from edgeattn.ops.set_attention.cases import set_partition
from edgeattn.ops.set_attention import triton as set_triton
from edgeattn.ops.set_attention.reference import set_attention

CASES = {  # (N voxels, C, heads, set size T)
    "pillar-197-t36": (197, 32, 2, 36),
    "voxel-63-t48": (63, 40, 5, 48),
    "odd-49-t7": (49, 24, 3, 7),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_reference(case, dtype):
    n, channels, heads, size = case
    gen = generator()
    q, k, v = (randn(gen, n, channels, dtype=dtype) for _ in range(3))
    inds, valid, slot = set_partition(n, size, gen)
    out = set_triton.set_attention(
        q, k, v, inds, valid, slot, heads, 0.3, out=poisoned(v.shape, dtype)
    )
    assert_matches(
        out, set_attention(q.float(), k.float(), v.float(), inds, valid, slot, heads, 0.3), dtype
    )


def test_any_slot_mapping_and_int32_indices():
    """Voxels may read another slot's output; int32 indices work as int64 ones do."""
    gen = generator()
    q, k, v = (randn(gen, 30, 16) for _ in range(3))
    inds, valid, _ = set_partition(30, 8, gen)
    slot = torch.randint(0, inds.numel(), (30,), generator=gen)
    valid[1] = False
    out = set_triton.set_attention(
        q, k, v, inds.int(), valid, slot.int(), 2, 0.25, out=poisoned(v.shape, torch.float32)
    )
    assert_matches(out, set_attention(q, k, v, inds, valid, slot, 2, 0.25), torch.float32)
    as_int = set_triton.set_attention(
        q, k, v, inds, valid.int() * 3, slot, 2, 0.25, out=poisoned(v.shape, torch.float32)
    )
    assert_matches(as_int, set_attention(q, k, v, inds, valid, slot, 2, 0.25), torch.float32)


def test_bad_indices_raise_before_launch():
    gen = generator()
    q = randn(gen, 10, 8)
    inds, valid, slot = set_partition(10, 4, gen)
    with pytest.raises(UsageError, match="set_inds values"):
        set_triton.set_attention(q, q, q, inds + 10, valid, slot, 2, 0.25)
    ok, reason = set_triton.can_run(q, q, q, inds, valid.long(), slot, 2, 0.25)
    assert not ok and "set_valid must be bool or int32" in reason
    ok, reason = set_triton.can_run(q, q, q, inds, valid, slot, 3, 0.25)
    assert not ok and "num_heads=3" in reason


def test_out_of_range_indices_give_zero_rows_and_masked_keys(monkeypatch):
    """What a TensorRT plugin (which cannot check indices before launching) computes for a bad
    partition: no out-of-bounds access, a zero row for a bad slot or query index, bad keys masked."""
    gen = generator()
    n, size = 20, 8
    q, k, v = (randn(gen, n, 16) for _ in range(3))
    inds, valid, slot = set_partition(n, size, gen)
    bad_inds, bad_slot = inds.clone(), slot.clone()
    bad_inds[0, 3] = n + 5  # a key of set 0 (and the query of the voxel in that slot)
    bad_inds[1, 2] = -7
    bad_slot[4] = inds.numel() + 100
    bad_slot[5] = -1
    monkeypatch.setattr(set_triton, "_index_refusal", lambda *args: "")
    out = set_triton.set_attention(
        q, k, v, bad_inds, valid, bad_slot, 2, 0.25, out=poisoned(v.shape, torch.float32)
    )
    masked = valid.clone()
    masked[0, 3] = masked[1, 2] = False
    expected = set_attention(q, k, v, inds, masked, slot, 2, 0.25)
    zero_rows = torch.tensor([4, 5, int(inds[0, 3]), int(inds[1, 2])])
    expected[zero_rows] = 0.0
    assert_matches(out, expected, torch.float32)
