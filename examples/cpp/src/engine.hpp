// A TensorRT engine with its I/O bound by name (TensorRT 10.x / 11.x: setInputShape, setTensorAddress, enqueueV3).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

namespace edgeattn {

//! Prints TensorRT's messages at `minimum` severity or worse to stderr.
class Logger : public nvinfer1::ILogger {
public:
    explicit Logger(Severity minimum = Severity::kWARNING) : mMinimum(minimum) {}
    void log(Severity severity, nvinfer1::AsciiChar const* message) noexcept override;

private:
    Severity mMinimum;
};

//! One I/O tensor: name, direction, type, shape for the current input shapes, device buffer.
struct Binding {
    std::string name;
    bool isInput{false};
    nvinfer1::DataType type{nvinfer1::DataType::kFLOAT};
    nvinfer1::Dims shape{};
    void* device{nullptr};
    size_t bytes{0};

    int64_t elements() const;
};

class Engine {
public:
    Engine() = default;
    Engine(Engine const&) = delete;
    Engine& operator=(Engine const&) = delete;
    ~Engine();

    //! Load a plugin library (getCreators/setLoggerFinder kind) into TensorRT's registry; "" skips it.
    //! Deserialise the engine file and create an execution context.
    bool load(std::string const& enginePath, std::string const& pluginLibrary, std::string& error);

    //! Set the input's shape and (re)allocate every device buffer for it.
    bool bind(std::string const& input, nvinfer1::Dims const& shape, std::string& error);

    //! Copy `input` (float32, converted to the tensor's type) in, enqueue, copy `output` (as float32) out.
    //! `gpuMs` receives the enqueue-to-finish time measured with CUDA events.
    bool infer(std::vector<float> const& input, std::string const& outputName, std::vector<float>& output,
        float& gpuMs, std::string& error);

    std::vector<Binding> const& bindings() const { return mBindings; }
    nvinfer1::ICudaEngine const& engine() const { return *mEngine; }

private:
    bool check(cudaError_t status, char const* what, std::string& error);
    Binding* find(std::string const& name);
    void release();

    Logger mLogger;
    std::unique_ptr<nvinfer1::IRuntime> mRuntime;
    std::unique_ptr<nvinfer1::ICudaEngine> mEngine;
    std::unique_ptr<nvinfer1::IExecutionContext> mContext;
    std::vector<Binding> mBindings;
    std::vector<uint8_t> mHost;
    cudaStream_t mStream{nullptr};
    cudaEvent_t mStart{nullptr};
    cudaEvent_t mStop{nullptr};
};

//! "10.3"-style version of the TensorRT library loaded at run time.
std::string tensorrtVersion();

//! "sm_87"-style architecture of CUDA device 0, or "" when there is none.
std::string deviceArch();

} // namespace edgeattn
