#include "engine.hpp"

#include <cuda_fp16.h>

#include <cstring>
#include <iostream>

#include "manifest.hpp"

namespace edgeattn {
namespace {

size_t elementSize(nvinfer1::DataType type)
{
    switch (type)
    {
    case nvinfer1::DataType::kFLOAT:
    case nvinfer1::DataType::kINT32: return 4;
    case nvinfer1::DataType::kHALF:
    case nvinfer1::DataType::kBF16: return 2;
    case nvinfer1::DataType::kINT64: return 8;
    case nvinfer1::DataType::kINT8:
    case nvinfer1::DataType::kUINT8:
    case nvinfer1::DataType::kBOOL:
    case nvinfer1::DataType::kFP8: return 1;
    default: return 0; // sub-byte types: not an I/O type of edgeattn bundles
    }
}

bool isFloat(nvinfer1::DataType type)
{
    return type == nvinfer1::DataType::kFLOAT || type == nvinfer1::DataType::kHALF;
}

//! float32 values as the bytes of a float32 or float16 tensor.
void encode(std::vector<float> const& values, nvinfer1::DataType type, std::vector<uint8_t>& bytes)
{
    size_t const size = elementSize(type);
    bytes.resize(values.size() * size);
    for (size_t i = 0; i < values.size(); ++i)
    {
        if (type == nvinfer1::DataType::kHALF)
        {
            __half const h = __float2half_rn(values[i]);
            std::memcpy(&bytes[i * size], &h, size);
        }
        else
        {
            std::memcpy(&bytes[i * size], &values[i], size);
        }
    }
}

void decode(std::vector<uint8_t> const& bytes, nvinfer1::DataType type, std::vector<float>& values)
{
    size_t const size = elementSize(type);
    values.resize(bytes.size() / size);
    for (size_t i = 0; i < values.size(); ++i)
    {
        if (type == nvinfer1::DataType::kHALF)
        {
            __half h;
            std::memcpy(&h, &bytes[i * size], size);
            values[i] = __half2float(h);
        }
        else
        {
            std::memcpy(&values[i], &bytes[i * size], size);
        }
    }
}

std::string describe(nvinfer1::Dims const& dims)
{
    std::string text = "[";
    for (int32_t i = 0; i < dims.nbDims; ++i)
    {
        text += (i ? ", " : "") + std::to_string(dims.d[i]);
    }
    return text + "]";
}

} // namespace

void Logger::log(Severity severity, nvinfer1::AsciiChar const* message) noexcept
{
    if (severity <= mMinimum)
    {
        std::cerr << "[TensorRT] " << message << "\n";
    }
}

int64_t Binding::elements() const
{
    int64_t count = 1;
    for (int32_t i = 0; i < shape.nbDims; ++i)
    {
        count *= shape.d[i];
    }
    return count;
}

Engine::~Engine()
{
    release();
    mContext.reset();
    mEngine.reset();
    mRuntime.reset();
    if (mStart != nullptr) cudaEventDestroy(mStart);
    if (mStop != nullptr) cudaEventDestroy(mStop);
    if (mStream != nullptr) cudaStreamDestroy(mStream);
}

bool Engine::check(cudaError_t status, char const* what, std::string& error)
{
    if (status != cudaSuccess)
    {
        error = std::string(what) + ": " + cudaGetErrorString(status);
        return false;
    }
    return true;
}

bool Engine::load(std::string const& enginePath, std::string const& pluginLibrary, std::string& error)
{
    if (!pluginLibrary.empty() && getPluginRegistry()->loadLibrary(pluginLibrary.c_str()) == nullptr)
    {
        error = "TensorRT could not load the plugin library " + pluginLibrary
            + " (built for another TensorRT version, or it registers its creators statically: then LD_PRELOAD it)";
        return false;
    }
    std::string blob;
    if (!readFile(enginePath, blob, error))
    {
        return false;
    }
    mRuntime.reset(nvinfer1::createInferRuntime(mLogger));
    if (!mRuntime)
    {
        error = "createInferRuntime failed";
        return false;
    }
    mEngine.reset(mRuntime->deserializeCudaEngine(blob.data(), blob.size()));
    if (!mEngine)
    {
        error = "could not deserialise " + enginePath + ": engines load only on the TensorRT version and GPU "
            "that built them (rebuild with ./build_engine.sh on this device)";
        return false;
    }
    mContext.reset(mEngine->createExecutionContext());
    if (!mContext)
    {
        error = "createExecutionContext failed (out of device memory?)";
        return false;
    }
    for (int32_t i = 0; i < mEngine->getNbIOTensors(); ++i)
    {
        Binding binding;
        binding.name = mEngine->getIOTensorName(i);
        binding.isInput = mEngine->getTensorIOMode(binding.name.c_str()) == nvinfer1::TensorIOMode::kINPUT;
        binding.type = mEngine->getTensorDataType(binding.name.c_str());
        binding.shape = mEngine->getTensorShape(binding.name.c_str());
        mBindings.push_back(binding);
    }
    return check(cudaStreamCreate(&mStream), "cudaStreamCreate", error)
        && check(cudaEventCreate(&mStart), "cudaEventCreate", error)
        && check(cudaEventCreate(&mStop), "cudaEventCreate", error);
}

Binding* Engine::find(std::string const& name)
{
    for (Binding& binding : mBindings)
    {
        if (binding.name == name)
        {
            return &binding;
        }
    }
    return nullptr;
}

void Engine::release()
{
    for (Binding& binding : mBindings)
    {
        if (binding.device != nullptr)
        {
            cudaFree(binding.device);
            binding.device = nullptr;
        }
    }
}

bool Engine::bind(std::string const& input, nvinfer1::Dims const& shape, std::string& error)
{
    Binding* target = find(input);
    if (target == nullptr || !target->isInput)
    {
        error = "the engine has no input named '" + input + "'";
        return false;
    }
    if (!mContext->setInputShape(input.c_str(), shape))
    {
        error = "input shape " + describe(shape) + " is outside the engine's optimisation profile ("
            + describe(mEngine->getProfileShape(input.c_str(), 0, nvinfer1::OptProfileSelector::kMIN)) + " .. "
            + describe(mEngine->getProfileShape(input.c_str(), 0, nvinfer1::OptProfileSelector::kMAX)) + ")";
        return false;
    }
    release();
    for (Binding& binding : mBindings)
    {
        binding.shape = mContext->getTensorShape(binding.name.c_str());
        size_t const size = elementSize(binding.type);
        if (binding.elements() < 0 || size == 0)
        {
            error = "tensor " + binding.name + " has an unsupported type or unresolved shape " + describe(binding.shape);
            return false;
        }
        binding.bytes = static_cast<size_t>(binding.elements()) * size;
        if (!check(cudaMalloc(&binding.device, binding.bytes), "cudaMalloc", error))
        {
            return false;
        }
        if (!mContext->setTensorAddress(binding.name.c_str(), binding.device))
        {
            error = "setTensorAddress failed for " + binding.name;
            return false;
        }
    }
    return true;
}

bool Engine::infer(std::vector<float> const& input, std::string const& outputName, std::vector<float>& output,
    float& gpuMs, std::string& error)
{
    Binding* in = nullptr;
    for (Binding& binding : mBindings)
    {
        in = (binding.isInput && in == nullptr) ? &binding : in;
    }
    Binding* out = find(outputName);
    if (in == nullptr || out == nullptr || in->device == nullptr || static_cast<int64_t>(input.size()) != in->elements())
    {
        error = "bind() the input first, with " + std::to_string(input.size()) + " values, and name an output";
        return false;
    }
    if (!isFloat(in->type) || !isFloat(out->type))
    {
        error = "the loader handles float32 and float16 I/O only (" + in->name + ", " + out->name + ")";
        return false;
    }
    encode(input, in->type, mHost);
    if (!check(cudaMemcpyAsync(in->device, mHost.data(), in->bytes, cudaMemcpyHostToDevice, mStream), "H2D copy", error)
        || !check(cudaEventRecord(mStart, mStream), "cudaEventRecord", error))
    {
        return false;
    }
    if (!mContext->enqueueV3(mStream))
    {
        error = "enqueueV3 failed (see the TensorRT messages above)";
        return false;
    }
    std::vector<uint8_t> host(out->bytes);
    if (!check(cudaEventRecord(mStop, mStream), "cudaEventRecord", error)
        || !check(cudaMemcpyAsync(host.data(), out->device, out->bytes, cudaMemcpyDeviceToHost, mStream), "D2H copy", error)
        || !check(cudaStreamSynchronize(mStream), "cudaStreamSynchronize", error)
        || !check(cudaEventElapsedTime(&gpuMs, mStart, mStop), "cudaEventElapsedTime", error))
    {
        return false;
    }
    decode(host, out->type, output);
    return true;
}

std::string tensorrtVersion()
{
    return std::to_string(getInferLibMajorVersion()) + "." + std::to_string(getInferLibMinorVersion());
}

std::string deviceArch()
{
    int device = 0;
    cudaDeviceProp properties{};
    if (cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&properties, device) != cudaSuccess)
    {
        return "";
    }
    return "sm_" + std::to_string(properties.major) + std::to_string(properties.minor);
}

} // namespace edgeattn
