// libedgeattn_enqueue_harness.so: runs one edgeattn plugin the way TensorRT would, without TensorRT,
// on caller-owned CUDA device buffers (C API for Python ctypes; benchmarks/plugin_enqueue.py drives it).
//
// Build phase:   eh_create     createPlugin(kBUILD) from fields typed as the ONNX parser types them
//                eh_configure  getOutputDataTypes / getOutputShapes checked against the caller's outputs,
//                              supportsFormatCombination (linear) for every position, configurePlugin
//                eh_workspace  getWorkspaceSize
// Runtime phase: eh_attach     getFieldsToSerialize -> createPlugin(kRUNTIME) -> attachToContext ->
//                              onShapeChange (loads the cubin in the current CUDA context)
//                eh_enqueue    enqueue(inputs, outputs, workspace, stream) on the attached plugin
//
// Every call returns 0 (or a handle) on success and -1 (or nullptr) on failure; the reason is in the
// session's log (eh_take_log), with the plugin library's own messages, one "SEVERITY: text" per line.
// Dims are passed flattened, eh_max_dims() values per tensor; enums by name through eh_data_type /
// eh_field_type, so Python never hard-codes TensorRT's enum values.
#pragma once

#include <cstdint>

#define EH_EXPORT extern "C" __attribute__((visibility("default")))

struct EhSession;
struct EhPlugin;

//! dlopen `library` as IPluginRegistry::loadLibrary does (getCreators, setLoggerFinder); nullptr on failure
//! (reason in eh_open_error()).
EH_EXPORT EhSession* eh_open(char const* library);
EH_EXPORT char const* eh_open_error();
EH_EXPORT void eh_close(EhSession* session);

//! Messages logged since the last call, "\n"-separated (valid until the next call on this session).
EH_EXPORT char const* eh_take_log(EhSession* session);
EH_EXPORT int32_t eh_creator_count(EhSession* session);
//! The TensorRT major version the harness was compiled against.
EH_EXPORT int32_t eh_tensorrt_major();
EH_EXPORT int32_t eh_max_dims();
//! nvinfer1::DataType / PluginFieldType value of "kFLOAT", "kINT8", ... / "kFLOAT32", "kCHAR", ...; -1 if unknown.
EH_EXPORT int32_t eh_data_type(char const* name);
EH_EXPORT int32_t eh_field_type(char const* name);

//! createPlugin(kBUILD) of plugin name/version/namespace for layer `layer`; fields are passed in the
//! creator's getFieldNames() order (only those given), as the ONNX parser passes them.
EH_EXPORT EhPlugin* eh_create(EhSession* session, char const* name, char const* version, char const* ns,
    char const* layer, int32_t nbFields, char const* const* fieldNames, int32_t const* fieldTypes,
    int32_t const* fieldLengths, void const* const* fieldData);

EH_EXPORT int32_t eh_configure(EhPlugin* plugin, int32_t nbInputs, int32_t const* inputTypes,
    int32_t const* inputRanks, int64_t const* inputDims, int32_t nbOutputs, int32_t const* outputTypes,
    int32_t const* outputRanks, int64_t const* outputDims);
//! getWorkspaceSize of the configured tensors; -1 when not configured.
EH_EXPORT int64_t eh_workspace(EhPlugin* plugin);
EH_EXPORT int32_t eh_attach(EhPlugin* plugin);
EH_EXPORT int32_t eh_enqueue(
    EhPlugin* plugin, void const* const* inputs, void* const* outputs, void* workspace, void* stream);
EH_EXPORT void eh_destroy(EhPlugin* plugin);
