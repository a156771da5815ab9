// IExprBuilder / IDimensionExpr on concrete values: TensorRT's header-only wrappers hold an
// apiv::VExprBuilder / apiv::VDimensionExpr in `mImpl`; these implement both sides, so a plugin's
// getOutputShapes can be evaluated without libnvinfer.
#pragma once

#include <NvInferRuntime.h>

#include <deque>
#include <memory>

class ConstantExpr : public nvinfer1::IDimensionExpr, public nvinfer1::apiv::VDimensionExpr
{
public:
    explicit ConstantExpr(int64_t value)
        : mValue(value)
    {
        mImpl = this;
    }
    ~ConstantExpr() noexcept override = default;

    bool isConstant() const override
    {
        return true;
    }
    int64_t getConstantValue() const override
    {
        return mValue;
    }
    bool isSizeTensor() const override
    {
        return false;
    }

private:
    int64_t mValue;
};

class ConstantExprBuilder : public nvinfer1::IExprBuilder, public nvinfer1::apiv::VExprBuilder
{
public:
    ConstantExprBuilder()
    {
        mImpl = this;
    }
    ~ConstantExprBuilder() noexcept override = default;

    nvinfer1::IDimensionExpr const* constant(int64_t value) override;
    nvinfer1::IDimensionExpr const* operation(nvinfer1::DimensionOperation op, nvinfer1::IDimensionExpr const& first,
        nvinfer1::IDimensionExpr const& second) override;
    //! Size tensors (data-dependent shapes) have no concrete value: not supported here.
    nvinfer1::IDimensionExpr const* declareSizeTensor(
        int32_t outputIndex, nvinfer1::IDimensionExpr const& opt, nvinfer1::IDimensionExpr const& upper) override;

private:
    std::deque<std::unique_ptr<ConstantExpr>> mExprs;
};
