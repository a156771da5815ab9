// The plugin enqueue harness (see enqueue_harness.h). Reuses the host test program's enum tables,
// capturing logger and constant IExprBuilder (tests/plugins/host).
#include "enqueue_harness.h"

#include "expr_builder.h"
#include "harness.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace
{
using GetCreators = trt::IPluginCreatorInterface* const* (*) (int32_t&);
using SetLoggerFinder = void (*)(trt::ILoggerFinder*);

class Finder : public trt::ILoggerFinder
{
public:
    explicit Finder(trt::ILogger* logger)
        : mLogger(logger)
    {
    }
    trt::ILogger* findLogger() override
    {
        return mLogger;
    }

private:
    trt::ILogger* mLogger;
};

//! What TensorRT hands attachToContext; this one offers neither a GPU allocator nor an error recorder.
class ResourceContext : public trt::IPluginResourceContext
{
public:
    trt::IGpuAllocator* getGpuAllocator() const noexcept override
    {
        return nullptr;
    }
    trt::IErrorRecorder* getErrorRecorder() const noexcept override
    {
        return nullptr;
    }
};

thread_local std::string gOpenError;

template <typename T>
T* capability(trt::IPluginV3* plugin, trt::PluginCapabilityType type)
{
    return plugin != nullptr ? static_cast<T*>(plugin->getCapabilityInterface(type)) : nullptr;
}

template <typename F>
auto guarded(char const* what, F&& body, decltype(body()) failure) noexcept -> decltype(body())
{
    try
    {
        return body();
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "edgeattn enqueue harness: %s failed: %s\n", what, e.what());
    }
    catch (...)
    {
        std::fprintf(stderr, "edgeattn enqueue harness: %s failed\n", what);
    }
    return failure;
}
} // namespace

struct EhSession
{
    void* handle{nullptr};
    SetLoggerFinder setLoggerFinder{nullptr};
    trt::IPluginCreatorInterface* const* creators{nullptr};
    int32_t nbCreators{0};
    CapturingLogger logger;
    Finder finder{&logger};
    std::string drained;

    void error(std::string const& message)
    {
        logger.log(trt::ILogger::Severity::kERROR, ("harness: " + message).c_str());
    }
};

struct EhPlugin
{
    EhSession* session{nullptr};
    trt::IPluginCreatorV3One* creator{nullptr};
    std::string name;
    std::unique_ptr<trt::IPluginV3> build;
    std::unique_ptr<trt::IPluginV3> runtime;
    std::unique_ptr<trt::IPluginV3> attached;
    std::vector<trt::DynamicPluginTensorDesc> io; //!< inputs then outputs (build phase)
    std::vector<trt::PluginTensorDesc> tensors;   //!< the same, as onShapeChange and enqueue get them
    int32_t nbInputs{0};
    bool configured{false};
};

namespace
{
trt::IPluginCreatorV3One* findCreator(EhSession& s, char const* name, char const* version, char const* ns)
{
    for (int32_t i = 0; i < s.nbCreators; ++i)
    {
        if (std::strcmp(s.creators[i]->getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") != 0)
        {
            continue;
        }
        auto* creator = static_cast<trt::IPluginCreatorV3One*>(s.creators[i]);
        if (std::strcmp(name, creator->getPluginName()) == 0 && std::strcmp(version, creator->getPluginVersion()) == 0
            && std::strcmp(ns, creator->getPluginNamespace()) == 0)
        {
            return creator;
        }
    }
    return nullptr;
}

//! The caller's fields in getFieldNames() order; fields the creator does not name are dropped, as the parser does.
std::vector<trt::PluginField> parserOrder(EhSession& s, trt::IPluginCreatorV3One& creator, int32_t nbFields,
    char const* const* names, int32_t const* types, int32_t const* lengths, void const* const* data)
{
    trt::PluginFieldCollection const* known = creator.getFieldNames();
    std::vector<trt::PluginField> fields;
    std::vector<bool> used(static_cast<size_t>(nbFields), false);
    for (int32_t k = 0; known != nullptr && k < known->nbFields; ++k)
    {
        for (int32_t i = 0; i < nbFields; ++i)
        {
            if (std::strcmp(names[i], known->fields[k].name) == 0)
            {
                fields.emplace_back(names[i], data[i], static_cast<trt::PluginFieldType>(types[i]), lengths[i]);
                used[static_cast<size_t>(i)] = true;
            }
        }
    }
    for (int32_t i = 0; i < nbFields; ++i)
    {
        if (!used[static_cast<size_t>(i)])
        {
            s.logger.log(trt::ILogger::Severity::kWARNING,
                ("harness: attribute '" + std::string(names[i]) + "' is not a field of the plugin; dropped").c_str());
        }
    }
    return fields;
}

trt::Dims toDims(int32_t rank, int64_t const* values)
{
    trt::Dims dims{};
    dims.nbDims = rank;
    for (int32_t i = 0; i < rank; ++i)
    {
        dims.d[i] = values[i];
    }
    return dims;
}

std::string dimsText(trt::Dims const& d)
{
    std::string out = "[";
    for (int32_t i = 0; i < d.nbDims; ++i)
    {
        out += (i ? ", " : "") + std::to_string(d.d[i]);
    }
    return out + "]";
}

//! Linear-format tensor descriptors (min = opt = max = the shape) of the inputs, then the outputs.
std::vector<trt::DynamicPluginTensorDesc> describe(int32_t n, int32_t const* types, int32_t const* ranks,
    int64_t const* dims, std::vector<trt::DynamicPluginTensorDesc> io = {})
{
    for (int32_t i = 0; i < n; ++i)
    {
        trt::DynamicPluginTensorDesc d{};
        d.desc.type = static_cast<trt::DataType>(types[i]);
        d.desc.format = trt::TensorFormat::kLINEAR;
        d.desc.dims = d.min = d.opt = d.max = toDims(ranks[i], dims + static_cast<ptrdiff_t>(i) * trt::Dims::MAX_DIMS);
        io.push_back(d);
    }
    return io;
}

//! getOutputDataTypes and getOutputShapes (on concrete input dims) must give the caller's outputs.
std::string outputMismatch(EhPlugin& p, trt::IPluginV3OneBuild& build)
{
    int32_t const nbOut = static_cast<int32_t>(p.io.size()) - p.nbInputs;
    std::vector<trt::DataType> inTypes;
    ConstantExprBuilder builder;
    std::vector<trt::DimsExprs> inShapes(static_cast<size_t>(p.nbInputs));
    for (int32_t i = 0; i < p.nbInputs; ++i)
    {
        inTypes.push_back(p.io[i].desc.type);
        inShapes[i].nbDims = p.io[i].desc.dims.nbDims;
        for (int32_t d = 0; d < inShapes[i].nbDims; ++d)
        {
            inShapes[i].d[d] = builder.constant(p.io[i].desc.dims.d[d]);
        }
    }
    std::vector<trt::DataType> outTypes(static_cast<size_t>(nbOut), trt::DataType::kBOOL);
    if (build.getOutputDataTypes(outTypes.data(), nbOut, inTypes.data(), p.nbInputs) != 0)
    {
        return "getOutputDataTypes failed";
    }
    std::vector<trt::DimsExprs> outShapes(static_cast<size_t>(nbOut));
    if (build.getOutputShapes(inShapes.data(), p.nbInputs, nullptr, 0, outShapes.data(), nbOut, builder) != 0)
    {
        return "getOutputShapes failed";
    }
    for (int32_t o = 0; o < nbOut; ++o)
    {
        trt::PluginTensorDesc const& want = p.io[p.nbInputs + o].desc;
        trt::Dims got{};
        got.nbDims = outShapes[o].nbDims;
        for (int32_t d = 0; d < got.nbDims; ++d)
        {
            got.d[d] = outShapes[o].d[d] != nullptr ? outShapes[o].d[d]->getConstantValue() : -1;
        }
        if (outTypes[o] != want.type)
        {
            return "output " + std::to_string(o) + " is " + dataTypeName(outTypes[o]) + ", expected "
                + dataTypeName(want.type);
        }
        if (dimsText(got) != dimsText(want.dims))
        {
            return "output " + std::to_string(o) + " has shape " + dimsText(got) + ", expected " + dimsText(want.dims);
        }
    }
    return "";
}

int32_t configure(EhPlugin& p)
{
    auto* build = capability<trt::IPluginV3OneBuild>(p.build.get(), trt::PluginCapabilityType::kBUILD);
    int32_t const nbOut = static_cast<int32_t>(p.io.size()) - p.nbInputs;
    if (build == nullptr || build->getNbOutputs() != nbOut)
    {
        p.session->error(p.name + ": the plugin has no build capability or another number of outputs than "
            + std::to_string(nbOut));
        return -1;
    }
    std::string const mismatch = outputMismatch(p, *build);
    if (!mismatch.empty())
    {
        p.session->error(p.name + ": " + mismatch);
        return -1;
    }
    for (int32_t pos = 0; pos < static_cast<int32_t>(p.io.size()); ++pos)
    {
        if (!build->supportsFormatCombination(pos, p.io.data(), p.nbInputs, nbOut))
        {
            p.session->error(p.name + ": supportsFormatCombination rejects " + dataTypeName(p.io[pos].desc.type)
                + " (linear) at position " + std::to_string(pos));
            return -1;
        }
    }
    if (build->configurePlugin(p.io.data(), p.nbInputs, p.io.data() + p.nbInputs, nbOut) != 0)
    {
        p.session->error(p.name + ": configurePlugin failed");
        return -1;
    }
    p.tensors.clear();
    for (trt::DynamicPluginTensorDesc const& d : p.io)
    {
        p.tensors.push_back(d.desc);
    }
    p.configured = true;
    return 0;
}

int32_t attach(EhPlugin& p)
{
    static ResourceContext resources;
    auto* build = capability<trt::IPluginV3OneRuntime>(p.build.get(), trt::PluginCapabilityType::kRUNTIME);
    if (!p.configured || build == nullptr)
    {
        p.session->error(p.name + ": attach before a successful configure");
        return -1;
    }
    p.runtime.reset(
        p.creator->createPlugin(p.name.c_str(), build->getFieldsToSerialize(), trt::TensorRTPhase::kRUNTIME));
    auto* runtime = capability<trt::IPluginV3OneRuntime>(p.runtime.get(), trt::PluginCapabilityType::kRUNTIME);
    if (runtime == nullptr)
    {
        p.session->error(p.name + ": createPlugin(kRUNTIME) from the serialized fields failed");
        return -1;
    }
    p.attached.reset(runtime->attachToContext(&resources));
    auto* attached = capability<trt::IPluginV3OneRuntime>(p.attached.get(), trt::PluginCapabilityType::kRUNTIME);
    if (attached == nullptr)
    {
        p.session->error(p.name + ": attachToContext failed");
        return -1;
    }
    trt::PluginTensorDesc const* descs = p.tensors.data();
    int32_t const nbOut = static_cast<int32_t>(p.tensors.size()) - p.nbInputs;
    if (attached->onShapeChange(descs, p.nbInputs, descs + p.nbInputs, nbOut) != 0)
    {
        p.session->error(p.name + ": onShapeChange failed");
        p.attached.reset();
        return -1;
    }
    return 0;
}
} // namespace

EhSession* eh_open(char const* library)
{
    return guarded("eh_open", [&]() -> EhSession* {
        gOpenError.clear();
        auto session = std::make_unique<EhSession>();
        session->handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
        if (session->handle == nullptr)
        {
            gOpenError = std::string("cannot load ") + library + ": " + dlerror();
            return nullptr;
        }
        auto getCreators = reinterpret_cast<GetCreators>(dlsym(session->handle, "getCreators"));
        session->setLoggerFinder = reinterpret_cast<SetLoggerFinder>(dlsym(session->handle, "setLoggerFinder"));
        if (getCreators == nullptr || session->setLoggerFinder == nullptr)
        {
            gOpenError = std::string(library) + " does not export getCreators and setLoggerFinder";
            dlclose(session->handle);
            return nullptr;
        }
        session->setLoggerFinder(&session->finder);
        session->creators = getCreators(session->nbCreators);
        return session.release();
    }, nullptr);
}

char const* eh_open_error()
{
    return gOpenError.c_str();
}

void eh_close(EhSession* session)
{
    if (session != nullptr)
    {
        session->setLoggerFinder(nullptr);
        dlclose(session->handle);
        delete session;
    }
}

char const* eh_take_log(EhSession* session)
{
    return guarded("eh_take_log", [&]() -> char const* {
        session->drained.clear();
        for (std::string const& line : session->logger.take())
        {
            session->drained += (session->drained.empty() ? "" : "\n") + line;
        }
        return session->drained.c_str();
    }, "");
}

int32_t eh_creator_count(EhSession* session)
{
    return session->nbCreators;
}

int32_t eh_tensorrt_major()
{
    return NV_TENSORRT_MAJOR;
}

int32_t eh_max_dims()
{
    return trt::Dims::MAX_DIMS;
}

int32_t eh_data_type(char const* name)
{
    return guarded("eh_data_type", [&] { return static_cast<int32_t>(dataType(name)); }, -1);
}

int32_t eh_field_type(char const* name)
{
    return guarded("eh_field_type", [&] { return static_cast<int32_t>(fieldType(name)); }, -1);
}

EhPlugin* eh_create(EhSession* session, char const* name, char const* version, char const* ns, char const* layer,
    int32_t nbFields, char const* const* fieldNames, int32_t const* fieldTypes, int32_t const* fieldLengths,
    void const* const* fieldData)
{
    return guarded("eh_create", [&]() -> EhPlugin* {
        auto plugin = std::make_unique<EhPlugin>();
        plugin->session = session;
        plugin->name = layer;
        plugin->creator = findCreator(*session, name, version, ns);
        if (plugin->creator == nullptr)
        {
            session->error(std::string("no creator for plugin ") + ns + "::" + name + " version " + version);
            return nullptr;
        }
        std::vector<trt::PluginField> fields
            = parserOrder(*session, *plugin->creator, nbFields, fieldNames, fieldTypes, fieldLengths, fieldData);
        trt::PluginFieldCollection fc{static_cast<int32_t>(fields.size()), fields.data()};
        plugin->build.reset(plugin->creator->createPlugin(layer, &fc, trt::TensorRTPhase::kBUILD));
        if (plugin->build == nullptr)
        {
            session->error(plugin->name + ": createPlugin(kBUILD) returned nullptr");
            return nullptr;
        }
        return plugin.release();
    }, nullptr);
}

int32_t eh_configure(EhPlugin* plugin, int32_t nbInputs, int32_t const* inputTypes, int32_t const* inputRanks,
    int64_t const* inputDims, int32_t nbOutputs, int32_t const* outputTypes, int32_t const* outputRanks,
    int64_t const* outputDims)
{
    return guarded("eh_configure", [&] {
        plugin->configured = false;
        plugin->nbInputs = nbInputs;
        plugin->io = describe(nbOutputs, outputTypes, outputRanks, outputDims,
            describe(nbInputs, inputTypes, inputRanks, inputDims));
        return configure(*plugin);
    }, -1);
}

int64_t eh_workspace(EhPlugin* plugin)
{
    return guarded("eh_workspace", [&]() -> int64_t {
        auto* build = capability<trt::IPluginV3OneBuild>(plugin->build.get(), trt::PluginCapabilityType::kBUILD);
        if (!plugin->configured || build == nullptr)
        {
            plugin->session->error(plugin->name + ": getWorkspaceSize before a successful configure");
            return -1;
        }
        int32_t const nbOut = static_cast<int32_t>(plugin->io.size()) - plugin->nbInputs;
        return static_cast<int64_t>(
            build->getWorkspaceSize(plugin->io.data(), plugin->nbInputs, plugin->io.data() + plugin->nbInputs, nbOut));
    }, -1);
}

int32_t eh_attach(EhPlugin* plugin)
{
    return guarded("eh_attach", [&] { return attach(*plugin); }, -1);
}

int32_t eh_enqueue(EhPlugin* plugin, void const* const* inputs, void* const* outputs, void* workspace, void* stream)
{
    auto* attached = capability<trt::IPluginV3OneRuntime>(plugin->attached.get(), trt::PluginCapabilityType::kRUNTIME);
    if (attached == nullptr)
    {
        plugin->session->error(plugin->name + ": enqueue before a successful attach");
        return -1;
    }
    trt::PluginTensorDesc const* descs = plugin->tensors.data();
    return attached->enqueue(
        descs, descs + plugin->nbInputs, inputs, outputs, workspace, static_cast<cudaStream_t>(stream));
}

void eh_destroy(EhPlugin* plugin)
{
    delete plugin;
}
