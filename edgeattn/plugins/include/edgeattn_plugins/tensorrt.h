// The TensorRT plugin API as edgeattn uses it: one include for 10.3, 10.16 and 11.x headers.
#pragma once

#include <NvInferRuntime.h>

#if NV_TENSORRT_MAJOR < 10
#error "edgeattn plugins need TensorRT 10 or newer headers (IPluginV3)."
#endif

namespace edgeattn::plugins
{
namespace trt = nvinfer1;

//! The TensorRT major version these plugins are compiled for (the library is built once per major).
constexpr int32_t kTensorRTMajor = NV_TENSORRT_MAJOR;
} // namespace edgeattn::plugins
