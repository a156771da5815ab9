#include "expr_builder.h"

#include <algorithm>

nvinfer1::IDimensionExpr const* ConstantExprBuilder::constant(int64_t value)
{
    mExprs.push_back(std::make_unique<ConstantExpr>(value));
    return mExprs.back().get();
}

namespace
{
int64_t floorDiv(int64_t a, int64_t b)
{
    int64_t const q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
} // namespace

nvinfer1::IDimensionExpr const* ConstantExprBuilder::operation(
    nvinfer1::DimensionOperation op, nvinfer1::IDimensionExpr const& first, nvinfer1::IDimensionExpr const& second)
{
    int64_t const a = first.getConstantValue();
    int64_t const b = second.getConstantValue();
    using Op = nvinfer1::DimensionOperation;
    switch (op)
    {
    case Op::kSUM: return constant(a + b);
    case Op::kPROD: return constant(a * b);
    case Op::kMAX: return constant(std::max(a, b));
    case Op::kMIN: return constant(std::min(a, b));
    case Op::kSUB: return constant(a - b);
    case Op::kEQUAL: return constant(a == b ? 1 : 0);
    case Op::kLESS: return constant(a < b ? 1 : 0);
    case Op::kFLOOR_DIV: return b == 0 ? nullptr : constant(floorDiv(a, b));
    case Op::kCEIL_DIV: return b == 0 ? nullptr : constant(-floorDiv(-a, b));
    }
    return nullptr;
}

nvinfer1::IDimensionExpr const* ConstantExprBuilder::declareSizeTensor(
    int32_t /*outputIndex*/, nvinfer1::IDimensionExpr const& /*opt*/, nvinfer1::IDimensionExpr const& /*upper*/)
{
    return nullptr;
}
