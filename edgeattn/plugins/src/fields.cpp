#include "edgeattn_plugins/fields.h"

#include "edgeattn_plugins/logging.h"

#include <cstring>
#include <set>

namespace edgeattn::plugins
{
namespace
{
trt::PluginFieldType fieldType(FieldKind kind) noexcept
{
    switch (kind)
    {
    case FieldKind::kFloat32: return trt::PluginFieldType::kFLOAT32;
    case FieldKind::kInt32: return trt::PluginFieldType::kINT32;
    case FieldKind::kString: return trt::PluginFieldType::kCHAR;
    }
    return trt::PluginFieldType::kUNKNOWN;
}

std::string typeName(trt::PluginFieldType type)
{
    switch (type)
    {
    case trt::PluginFieldType::kFLOAT16: return "kFLOAT16";
    case trt::PluginFieldType::kFLOAT32: return "kFLOAT32";
    case trt::PluginFieldType::kFLOAT64: return "kFLOAT64";
    case trt::PluginFieldType::kINT8: return "kINT8";
    case trt::PluginFieldType::kINT16: return "kINT16";
    case trt::PluginFieldType::kINT32: return "kINT32";
    case trt::PluginFieldType::kCHAR: return "kCHAR";
    case trt::PluginFieldType::kDIMS: return "kDIMS";
    case trt::PluginFieldType::kUNKNOWN: return "kUNKNOWN";
    case trt::PluginFieldType::kBF16: return "kBF16";
    case trt::PluginFieldType::kINT64: return "kINT64";
    case trt::PluginFieldType::kFP8: return "kFP8";
    case trt::PluginFieldType::kINT4: return "kINT4";
    default: return "type " + std::to_string(static_cast<int32_t>(type));
    }
}

std::string expectedNames(std::vector<FieldSpec> const& specs)
{
    std::string names;
    for (FieldSpec const& spec : specs)
    {
        names += (names.empty() ? "" : ", ") + std::string(spec.name);
    }
    return names;
}

template <typename T>
std::vector<T> copyValues(trt::PluginField const& field)
{
    std::vector<T> values(static_cast<size_t>(field.length));
    std::memcpy(values.data(), field.data, values.size() * sizeof(T));
    return values;
}
} // namespace

char const* describeKind(FieldKind kind) noexcept
{
    switch (kind)
    {
    case FieldKind::kFloat32: return "kFLOAT32 (ONNX FLOAT/FLOATS)";
    case FieldKind::kInt32: return "kINT32 (ONNX INT/INTS)";
    case FieldKind::kString: return "kCHAR (ONNX STRING)";
    }
    return "unknown";
}

Fields::Fields(std::vector<FieldSpec> const& specs)
{
    for (FieldSpec const& spec : specs)
    {
        mEntries.push_back(Entry{spec, false, {}, {}, {}});
    }
}

Fields::Entry const* Fields::find(std::string const& name) const
{
    for (Entry const& entry : mEntries)
    {
        if (name == entry.spec.name)
        {
            return &entry;
        }
    }
    return nullptr;
}

Fields::Entry* Fields::find(std::string const& name)
{
    return const_cast<Entry*>(static_cast<Fields const*>(this)->find(name));
}

std::string Fields::assign(Entry& entry, trt::PluginField const& field)
{
    FieldSpec const& spec = entry.spec;
    if (field.type != fieldType(spec.kind))
    {
        return "has type " + typeName(field.type) + "; expected " + describeKind(spec.kind);
    }
    if (field.length < 0)
    {
        return "has negative length " + std::to_string(field.length);
    }
    if (field.length > 0 && field.data == nullptr)
    {
        return "has length " + std::to_string(field.length) + " but no data";
    }
    if (spec.kind == FieldKind::kString)
    {
        char const* chars = static_cast<char const*>(field.data);
        entry.text.assign(chars, strnlen(chars, static_cast<size_t>(field.length)));
        return "";
    }
    if (field.length == 0 || (spec.length > 0 && field.length != spec.length))
    {
        std::string const want = spec.length > 0 ? std::to_string(spec.length) : "at least 1";
        return "has " + std::to_string(field.length) + " values; expected " + want;
    }
    if (spec.kind == FieldKind::kFloat32)
    {
        entry.floats = copyValues<float>(field);
    }
    else
    {
        entry.ints = copyValues<int32_t>(field);
    }
    return "";
}

std::optional<Fields> Fields::parse(
    std::vector<FieldSpec> const& specs, trt::PluginFieldCollection const* fc, std::string const& context)
{
    Fields fields(specs);
    int32_t const count = fc != nullptr ? fc->nbFields : 0;
    if (count < 0 || (count > 0 && fc->fields == nullptr))
    {
        logError(context + ": malformed PluginFieldCollection (nbFields " + std::to_string(count) + ")");
        return std::nullopt;
    }
    std::set<std::string> seen;
    for (int32_t i = 0; i < count; ++i)
    {
        trt::PluginField const& field = fc->fields[i];
        std::string const name = field.name != nullptr ? field.name : "";
        Entry* entry = fields.find(name);
        std::string why;
        if (entry == nullptr)
        {
            why = "is not a field of this plugin (fields: " + expectedNames(specs) + ")";
        }
        else if (!seen.insert(name).second)
        {
            why = "is given twice";
        }
        else
        {
            why = fields.assign(*entry, field);
            entry->present = why.empty();
        }
        if (!why.empty())
        {
            logError(context + ": field '" + name + "' " + why + "; re-export the ONNX node with edgeattn");
            return std::nullopt;
        }
    }
    for (Entry const& entry : fields.mEntries)
    {
        if (entry.spec.required && !entry.present)
        {
            logError(context + ": required field '" + entry.spec.name + "' (" + describeKind(entry.spec.kind)
                + ") is missing; the ONNX node must carry this attribute");
            return std::nullopt;
        }
    }
    return fields;
}

bool Fields::has(std::string const& name) const
{
    Entry const* entry = find(name);
    return entry != nullptr && entry->present;
}

std::vector<float> const& Fields::floats(std::string const& name) const
{
    static std::vector<float> const kNone;
    Entry const* entry = find(name);
    return entry != nullptr ? entry->floats : kNone;
}

std::vector<int32_t> const& Fields::ints(std::string const& name) const
{
    static std::vector<int32_t> const kNone;
    Entry const* entry = find(name);
    return entry != nullptr ? entry->ints : kNone;
}

std::string const& Fields::text(std::string const& name) const
{
    static std::string const kNone;
    Entry const* entry = find(name);
    return entry != nullptr ? entry->text : kNone;
}

trt::PluginFieldCollection const* Fields::collection()
{
    mView.clear();
    for (Entry const& entry : mEntries)
    {
        if (!entry.present)
        {
            continue;
        }
        trt::PluginFieldType const type = fieldType(entry.spec.kind);
        switch (entry.spec.kind)
        {
        case FieldKind::kFloat32:
            mView.emplace_back(entry.spec.name, entry.floats.data(), type, static_cast<int32_t>(entry.floats.size()));
            break;
        case FieldKind::kInt32:
            mView.emplace_back(entry.spec.name, entry.ints.data(), type, static_cast<int32_t>(entry.ints.size()));
            break;
        case FieldKind::kString:
            mView.emplace_back(entry.spec.name, entry.text.c_str(), type, static_cast<int32_t>(entry.text.size() + 1));
            break;
        }
    }
    mCollection.nbFields = static_cast<int32_t>(mView.size());
    mCollection.fields = mView.data();
    return &mCollection;
}

FieldNames::FieldNames(std::vector<FieldSpec> specs)
    : mSpecs(std::move(specs))
{
    for (FieldSpec const& spec : mSpecs)
    {
        mFields.emplace_back(spec.name, nullptr, fieldType(spec.kind), spec.length);
    }
    mCollection.nbFields = static_cast<int32_t>(mFields.size());
    mCollection.fields = mFields.data();
}
} // namespace edgeattn::plugins
