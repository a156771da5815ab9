// The checks plugin_host_test runs for one case (see plugin_host_test.cpp).
#include "expr_builder.h"
#include "harness.h"

#include <cstring>
#include <deque>
#include <memory>

namespace
{
//! Storage of a PluginFieldCollection built in the test.
struct FieldStore
{
    std::deque<std::string> names;
    std::deque<std::vector<uint8_t>> data;
    std::vector<trt::PluginField> fields;
    trt::PluginFieldCollection collection{};

    void add(std::string const& name, std::vector<uint8_t> bytes, trt::PluginFieldType type, int32_t length, bool null)
    {
        names.push_back(name);
        data.push_back(std::move(bytes));
        fields.emplace_back(names.back().c_str(), null ? nullptr : data.back().data(), type, length);
    }

    trt::PluginFieldCollection const* finish()
    {
        collection.nbFields = static_cast<int32_t>(fields.size());
        collection.fields = fields.data();
        return &collection;
    }
};

template <typename T>
void append(std::vector<uint8_t>& bytes, T value)
{
    uint8_t raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    bytes.insert(bytes.end(), raw, raw + sizeof(T));
}

//! One ONNX attribute as onnx-tensorrt's loadFields passes it.
void addParserField(FieldStore& store, Attr const& a)
{
    std::vector<uint8_t> bytes;
    if (a.type == "FLOAT" || a.type == "FLOATS")
    {
        for (std::string const& v : a.values)
        {
            append(bytes, static_cast<uint32_t>(std::stoul(v, nullptr, 16))); // float32 bits
        }
        store.add(a.name, bytes, trt::PluginFieldType::kFLOAT32, static_cast<int32_t>(a.values.size()), false);
    }
    else if (a.type == "INT" || a.type == "INTS")
    {
        for (std::string const& v : a.values)
        {
            append(bytes, static_cast<int32_t>(std::stoll(v))); // int64 attributes are truncated
        }
        store.add(a.name, bytes, trt::PluginFieldType::kINT32, static_cast<int32_t>(a.values.size()), false);
    }
    else if (a.type == "STRING")
    {
        bytes = fromHex(a.values.empty() ? "" : a.values[0]);
        bytes.push_back(0); // the parser appends the NUL and counts it
        store.add(a.name, bytes, trt::PluginFieldType::kCHAR, static_cast<int32_t>(bytes.size()), false);
    }
}

//! Fields in the creator's getFieldNames() order, only those the node has; then the raw fields.
trt::PluginFieldCollection const* buildFields(trt::IPluginCreatorV3One& creator, Case const& c, FieldStore& store)
{
    if (c.noFields)
    {
        return nullptr;
    }
    trt::PluginFieldCollection const* names = creator.getFieldNames();
    for (int32_t i = 0; i < names->nbFields; ++i)
    {
        for (Attr const& a : c.attrs)
        {
            if (a.name == names->fields[i].name)
            {
                addParserField(store, a);
            }
        }
    }
    for (RawField const& r : c.raws)
    {
        store.add(r.name, fromHex(r.hex == "null" ? "" : r.hex), r.type, r.length, r.hex == "null");
    }
    return store.finish();
}

size_t elementSize(trt::PluginFieldType type)
{
    switch (type)
    {
    case trt::PluginFieldType::kFLOAT64:
    case trt::PluginFieldType::kINT64: return 8;
    case trt::PluginFieldType::kFLOAT32:
    case trt::PluginFieldType::kINT32: return 4;
    case trt::PluginFieldType::kFLOAT16:
    case trt::PluginFieldType::kBF16:
    case trt::PluginFieldType::kINT16: return 2;
    case trt::PluginFieldType::kINT8:
    case trt::PluginFieldType::kCHAR: return 1;
    default: return 0;
    }
}

std::string dumpFields(trt::PluginFieldCollection const* fc)
{
    if (fc == nullptr)
    {
        return "null";
    }
    std::vector<trt::PluginField> fields(fc->fields, fc->fields + fc->nbFields);
    return jsonList(fields, [](trt::PluginField const& f) {
        size_t const bytes = f.data != nullptr && f.length > 0 ? elementSize(f.type) * static_cast<size_t>(f.length) : 0;
        return "{\"name\":" + quote(f.name ? f.name : "") + ",\"type\":" + quote(fieldTypeName(f.type))
            + ",\"length\":" + std::to_string(f.length) + ",\"hex\":" + quote(toHex(f.data, bytes)) + "}";
    });
}

std::string dims(trt::Dims const& d)
{
    std::string out = "[";
    for (int32_t i = 0; i < d.nbDims; ++i)
    {
        out += (i ? "," : "") + std::to_string(d.d[i]);
    }
    return out + "]";
}

trt::IPluginCreatorV3One* findCreator(Case const& c, trt::IPluginCreatorInterface* const* creators, int32_t n)
{
    for (int32_t i = 0; i < n; ++i)
    {
        if (std::strcmp(creators[i]->getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") != 0)
        {
            continue;
        }
        auto* creator = static_cast<trt::IPluginCreatorV3One*>(creators[i]);
        if (c.plugin == creator->getPluginName() && c.version == creator->getPluginVersion()
            && c.ns == creator->getPluginNamespace())
        {
            return creator;
        }
    }
    return nullptr;
}

std::string fieldNames(trt::IPluginCreatorV3One& creator)
{
    trt::PluginFieldCollection const* fc = creator.getFieldNames();
    std::vector<trt::PluginField> fields(fc->fields, fc->fields + fc->nbFields);
    return jsonList(fields, [](trt::PluginField const& f) {
        return "{\"name\":" + quote(f.name) + ",\"type\":" + quote(fieldTypeName(f.type))
            + ",\"length\":" + std::to_string(f.length) + "}";
    });
}

std::string logJson(CapturingLogger& logger)
{
    return jsonList(logger.take(), [](std::string const& m) { return quote(m); });
}

struct Plugin
{
    std::unique_ptr<trt::IPluginV3> object;
    trt::IPluginV3OneCore* core{nullptr};
    trt::IPluginV3OneBuild* build{nullptr};
    trt::IPluginV3OneRuntime* runtime{nullptr};

    explicit Plugin(trt::IPluginV3* plugin)
        : object(plugin)
    {
        if (plugin != nullptr)
        {
            core = static_cast<trt::IPluginV3OneCore*>(plugin->getCapabilityInterface(trt::PluginCapabilityType::kCORE));
            build = static_cast<trt::IPluginV3OneBuild*>(plugin->getCapabilityInterface(trt::PluginCapabilityType::kBUILD));
            runtime = static_cast<trt::IPluginV3OneRuntime*>(
                plugin->getCapabilityInterface(trt::PluginCapabilityType::kRUNTIME));
        }
    }
};

std::string serialized(trt::IPluginV3* plugin)
{
    auto* runtime
        = static_cast<trt::IPluginV3OneRuntime*>(plugin->getCapabilityInterface(trt::PluginCapabilityType::kRUNTIME));
    return runtime != nullptr ? dumpFields(runtime->getFieldsToSerialize()) : "null";
}

//! Output shapes on concrete input dims (status, dims): the runtime dims, or the range's min or max.
std::string outputShapes(
    Plugin& p, Case const& c, std::vector<trt::Dims>& outDims, trt::Dims Input::*which = &Input::dims)
{
    ConstantExprBuilder builder;
    std::vector<trt::DimsExprs> inputs(c.inputs.size());
    for (size_t i = 0; i < c.inputs.size(); ++i)
    {
        trt::Dims const& given = c.inputs[i].*which;
        inputs[i].nbDims = given.nbDims;
        for (int32_t d = 0; d < inputs[i].nbDims; ++d)
        {
            inputs[i].d[d] = builder.constant(given.d[d]);
        }
    }
    int32_t const nbOut = p.build->getNbOutputs();
    std::vector<trt::DimsExprs> outputs(static_cast<size_t>(std::max(nbOut, 0)));
    int32_t const status = p.build->getOutputShapes(inputs.data(), static_cast<int32_t>(inputs.size()), nullptr, 0,
        outputs.data(), nbOut, builder);
    outDims.clear();
    for (trt::DimsExprs const& e : outputs)
    {
        trt::Dims d{};
        d.nbDims = status == 0 ? e.nbDims : 0;
        for (int32_t i = 0; i < d.nbDims; ++i)
        {
            d.d[i] = e.d[i] != nullptr && e.d[i]->isConstant() ? e.d[i]->getConstantValue() : -1;
        }
        outDims.push_back(d);
    }
    return "{\"status\":" + std::to_string(status) + ",\"dims\":" + jsonList(outDims, dims) + "}";
}

std::string outputTypes(Plugin& p, Case const& c)
{
    std::vector<trt::DataType> in;
    for (Input const& i : c.inputs)
    {
        in.push_back(i.type);
    }
    std::vector<trt::DataType> out(static_cast<size_t>(std::max(p.build->getNbOutputs(), 0)), trt::DataType::kBOOL);
    int32_t const status = p.build->getOutputDataTypes(
        out.data(), static_cast<int32_t>(out.size()), in.data(), static_cast<int32_t>(in.size()));
    return "{\"status\":" + std::to_string(status) + ",\"types\":"
        + jsonList(out, [](trt::DataType t) { return quote(dataTypeName(t)); }) + "}";
}

constexpr trt::DataType kTypes[] = {trt::DataType::kFLOAT, trt::DataType::kHALF, trt::DataType::kINT8,
    trt::DataType::kINT32, trt::DataType::kBF16, trt::DataType::kINT64, trt::DataType::kBOOL, trt::DataType::kUINT8};
constexpr trt::TensorFormat kFormats[] = {trt::TensorFormat::kLINEAR, trt::TensorFormat::kCHW32};

//! Every (type, format) tuple TensorRT could pick, asking position by position as the builder does.
void formats(Plugin& p, std::vector<trt::DynamicPluginTensorDesc>& io, int32_t nbIn, size_t pos,
    std::vector<std::vector<trt::DynamicPluginTensorDesc>>& accepted)
{
    if (pos == io.size())
    {
        accepted.push_back(io);
        return;
    }
    for (trt::DataType type : kTypes)
    {
        for (trt::TensorFormat format : kFormats)
        {
            io[pos].desc.type = type;
            io[pos].desc.format = format;
            if (p.build->supportsFormatCombination(
                    static_cast<int32_t>(pos), io.data(), nbIn, static_cast<int32_t>(io.size()) - nbIn))
            {
                formats(p, io, nbIn, pos + 1, accepted);
            }
        }
    }
}

std::string describe(std::vector<trt::DynamicPluginTensorDesc> const& io)
{
    return jsonList(io, [](trt::DynamicPluginTensorDesc const& d) {
        return "[" + quote(dataTypeName(d.desc.type)) + "," + quote(formatName(d.desc.format)) + "]";
    });
}

//! configurePlugin, getWorkspaceSize and onShapeChange on the accepted combination `io`.
std::string run(Plugin& p, std::vector<trt::DynamicPluginTensorDesc> const& io, int32_t nbIn, CapturingLogger& logger)
{
    int32_t const nbOut = static_cast<int32_t>(io.size()) - nbIn;
    int32_t const configured = p.build->configurePlugin(io.data(), nbIn, io.data() + nbIn, nbOut);
    size_t const workspace = p.build->getWorkspaceSize(io.data(), nbIn, io.data() + nbIn, nbOut);
    std::vector<trt::PluginTensorDesc> descs;
    for (trt::DynamicPluginTensorDesc const& d : io)
    {
        descs.push_back(d.desc);
        descs.back().dims = d.opt; // configurePlugin saw -1 for dynamic dims; at runtime they are known
    }
    int32_t const changed = p.runtime->onShapeChange(descs.data(), nbIn, descs.data() + nbIn, nbOut);
    return "{\"io\":" + describe(io) + ",\"configure\":" + std::to_string(configured) + ",\"workspace\":"
        + std::to_string(workspace) + ",\"shape_change\":" + std::to_string(changed) + ",\"log\":" + logJson(logger)
        + "}";
}

//! A build-time tensor description as TensorRT gives configurePlugin: -1 where min and max differ.
trt::DynamicPluginTensorDesc dynamicDesc(trt::Dims const& min, trt::Dims const& opt, trt::Dims const& max)
{
    trt::DynamicPluginTensorDesc d{};
    d.min = min;
    d.opt = opt;
    d.max = max;
    d.desc.dims = opt;
    for (int32_t i = 0; i < opt.nbDims; ++i)
    {
        d.desc.dims.d[i] = min.d[i] == max.d[i] ? opt.d[i] : -1;
    }
    return d;
}

std::string exercise(Plugin& p, trt::IPluginCreatorV3One& creator, Case const& c, CapturingLogger& logger)
{
    std::string out = ",\"name\":" + quote(p.core->getPluginName()) + ",\"version\":" + quote(p.core->getPluginVersion())
        + ",\"namespace\":" + quote(p.core->getPluginNamespace()) + ",\"nb_outputs\":"
        + std::to_string(p.build->getNbOutputs()) + ",\"output_types\":" + outputTypes(p, c);
    std::vector<trt::Dims> outDims;
    out += ",\"output_shapes\":" + outputShapes(p, c, outDims);
    std::string const fields = dumpFields(p.runtime->getFieldsToSerialize());
    std::unique_ptr<trt::IPluginV3> runtime(
        creator.createPlugin(c.id.c_str(), p.runtime->getFieldsToSerialize(), trt::TensorRTPhase::kRUNTIME));
    std::unique_ptr<trt::IPluginV3> clone(p.object->clone());
    std::unique_ptr<trt::IPluginV3> attached(p.runtime->attachToContext(nullptr));
    out += ",\"fields\":" + fields + ",\"runtime_fields\":" + (runtime ? serialized(runtime.get()) : "null")
        + ",\"clone_fields\":" + (clone ? serialized(clone.get()) : "null") + ",\"attached_fields\":"
        + (attached ? serialized(attached.get()) : "null") + ",\"setup_log\":" + logJson(logger);
    std::vector<trt::Dims> outMin;
    std::vector<trt::Dims> outMax;
    outputShapes(p, c, outMin, &Input::min);
    outputShapes(p, c, outMax, &Input::max);
    std::vector<trt::DynamicPluginTensorDesc> io;
    for (Input const& i : c.inputs)
    {
        io.push_back(dynamicDesc(i.min, i.dims, i.max));
    }
    for (size_t i = 0; i < outDims.size(); ++i)
    {
        io.push_back(dynamicDesc(outMin[i], outDims[i], outMax[i]));
    }
    std::vector<std::vector<trt::DynamicPluginTensorDesc>> accepted;
    formats(p, io, static_cast<int32_t>(c.inputs.size()), 0, accepted);
    out += ",\"formats\":" + jsonList(accepted, describe) + ",\"runs\":"
        + jsonList(accepted, [&](auto const& combo) { return run(p, combo, static_cast<int32_t>(c.inputs.size()), logger); });
    return out;
}
} // namespace

std::string runCase(Case const& c, trt::IPluginCreatorInterface* const* creators, int32_t nbCreators,
    CapturingLogger& logger)
{
    std::string out = "{\"case\":" + quote(c.id);
    trt::IPluginCreatorV3One* creator = findCreator(c, creators, nbCreators);
    if (creator == nullptr)
    {
        return out + ",\"creator\":false}";
    }
    FieldStore store;
    trt::PluginFieldCollection const* fc = buildFields(*creator, c, store);
    out += ",\"creator\":true,\"field_names\":" + fieldNames(*creator) + ",\"passed_fields\":" + dumpFields(fc);
    Plugin plugin(creator->createPlugin(c.id.c_str(), fc, trt::TensorRTPhase::kBUILD));
    out += ",\"created\":" + std::string(plugin.object ? "true" : "false");
    out += ",\"capabilities\":[" + std::string(plugin.core ? "true" : "false") + "," + (plugin.build ? "true" : "false")
        + "," + (plugin.runtime ? "true" : "false") + "]";
    if (plugin.core != nullptr && plugin.build != nullptr && plugin.runtime != nullptr)
    {
        out += exercise(plugin, *creator, c, logger);
    }
    return out + ",\"log\":" + logJson(logger) + "}";
}
