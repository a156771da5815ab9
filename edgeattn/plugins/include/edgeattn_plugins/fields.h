// Plugin fields typed exactly as TensorRT's ONNX parser hands them, parsed with clear errors.
//
// ONNX attribute -> PluginField: INT -> kINT32 (length 1), INTS -> kINT32 (length n),
// FLOAT / FLOATS -> kFLOAT32 (length 1 / n), STRING -> kCHAR (NUL-terminated, length includes the NUL).
// The same specs give the creator's getFieldNames() and the plugin's getFieldsToSerialize(), so a
// serialized plugin is re-created from exactly the fields the parser would pass.
#pragma once

#include "edgeattn_plugins/tensorrt.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgeattn::plugins
{
enum class FieldKind
{
    kFloat32, //!< ONNX FLOAT or FLOATS
    kInt32,   //!< ONNX INT or INTS
    kString,  //!< ONNX STRING
};

struct FieldSpec
{
    char const* name;
    FieldKind kind;
    bool required;
    int32_t length; //!< exact number of values; 0 = any number >= 1 (ignored for strings)
};

//! Values of one plugin's fields, in spec order; absent optional fields have no values.
class Fields
{
public:
    //! Parse `fc` against `specs`. On any bad field, logs what and why (prefixed by `context`) and
    //! returns nullopt: unknown or duplicate names, wrong type, wrong length, missing required fields.
    static std::optional<Fields> parse(
        std::vector<FieldSpec> const& specs, trt::PluginFieldCollection const* fc, std::string const& context);

    bool has(std::string const& name) const;
    std::vector<float> const& floats(std::string const& name) const;
    std::vector<int32_t> const& ints(std::string const& name) const;
    std::string const& text(std::string const& name) const;

    //! The present fields, typed as the ONNX parser passes them (valid until this object changes).
    trt::PluginFieldCollection const* collection();

private:
    struct Entry
    {
        FieldSpec spec;
        bool present{false};
        std::vector<float> floats;
        std::vector<int32_t> ints;
        std::string text;
    };

    explicit Fields(std::vector<FieldSpec> const& specs);
    Entry const* find(std::string const& name) const;
    Entry* find(std::string const& name);
    std::string assign(Entry& entry, trt::PluginField const& field);

    std::vector<Entry> mEntries;
    std::vector<trt::PluginField> mView;
    trt::PluginFieldCollection mCollection{};
};

//! A creator's getFieldNames(): every spec's name, type and length (0 when variable), no data.
class FieldNames
{
public:
    explicit FieldNames(std::vector<FieldSpec> specs);
    FieldNames(FieldNames const&) = delete;
    FieldNames& operator=(FieldNames const&) = delete;

    std::vector<FieldSpec> const& specs() const noexcept
    {
        return mSpecs;
    }

    trt::PluginFieldCollection const* collection() const noexcept
    {
        return &mCollection;
    }

private:
    std::vector<FieldSpec> mSpecs;
    std::vector<trt::PluginField> mFields;
    trt::PluginFieldCollection mCollection{};
};

//! "kFLOAT32 (ONNX FLOAT/FLOATS)" etc.: how errors name a field kind.
char const* describeKind(FieldKind kind) noexcept;
} // namespace edgeattn::plugins
