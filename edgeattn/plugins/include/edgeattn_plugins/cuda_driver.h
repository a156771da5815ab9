// The CUDA driver API, loaded lazily with dlopen("libcuda.so.1"): the library loads, and its
// creators, shapes and serialization work, on machines without a GPU driver.
#pragma once

#include <cuda.h>

#include <string>

namespace edgeattn::plugins
{
struct CudaDriver
{
    decltype(&::cuInit) init;
    decltype(&::cuGetErrorString) getErrorString;
    decltype(&::cuCtxGetCurrent) ctxGetCurrent;
    decltype(&::cuCtxGetDevice) ctxGetDevice;
    decltype(&::cuDeviceGetAttribute) deviceGetAttribute;
    decltype(&::cuModuleLoadData) moduleLoadData;
    decltype(&::cuModuleGetFunction) moduleGetFunction;
    decltype(&::cuFuncGetAttribute) funcGetAttribute;
    decltype(&::cuFuncSetAttribute) funcSetAttribute;
    decltype(&::cuLaunchKernel) launchKernel;
    decltype(&::cuMemAlloc) memAlloc;
    decltype(&::cuMemFree) memFree;
    decltype(&::cuMemcpyHtoD) memcpyHtoD;
};

//! The driver, loaded once; nullptr when this machine has none (`why` then says what failed,
//! and the first failure is logged as a warning).
CudaDriver const* cudaDriver(std::string* why = nullptr) noexcept;

//! "CUDA_ERROR_...: description" for `result`.
std::string cudaErrorText(CudaDriver const& cuda, CUresult result);
} // namespace edgeattn::plugins
