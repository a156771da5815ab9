// Shape arithmetic op plans share: the block sizes edgeattn's Python launchers pick, ceiling division,
// strides of linear-format tensors, and dims as text for error messages.
#pragma once

#include "edgeattn_plugins/tensorrt.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace edgeattn::plugins
{
//! edgeattn.kernels.runtime.block: the power of two covering n, at least `minimum`, at most `maximum`.
inline int64_t tritonBlock(int64_t n, int64_t minimum, int64_t maximum = INT64_MAX)
{
    int64_t size = 1;
    while (size < n)
    {
        size <<= 1;
    }
    return std::min(std::max(minimum, size), maximum);
}

inline int64_t ceilDiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

//! Stride of axis `axis` of a linear-format (contiguous) tensor, as torch's Tensor.stride(axis).
inline int64_t linearStride(trt::Dims const& dims, int32_t axis)
{
    int64_t stride = 1;
    for (int32_t i = axis + 1; i < dims.nbDims; ++i)
    {
        stride *= dims.d[i];
    }
    return stride;
}

//! Number of elements of a tensor with these (concrete) dims.
inline int64_t volume(trt::Dims const& dims)
{
    return linearStride(dims, -1);
}

//! True when any dim is 0 or negative (an empty or unresolved tensor).
inline bool hasEmptyDim(trt::Dims const& dims)
{
    return std::any_of(dims.d, dims.d + dims.nbDims, [](int64_t d) { return d <= 0; });
}

//! "[1, 72, 12, 12]".
inline std::string dimsText(trt::Dims const& dims)
{
    std::string text = "[";
    for (int32_t i = 0; i < dims.nbDims; ++i)
    {
        text += (i ? ", " : "") + std::to_string(dims.d[i]);
    }
    return text + "]";
}
} // namespace edgeattn::plugins
