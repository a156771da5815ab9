// Shared pieces of plugin_host_test: the request model, the capturing logger, JSON helpers.
#pragma once

#include <NvInferRuntime.h>

#include <iosfwd>
#include <string>
#include <vector>

namespace trt = nvinfer1;

struct Attr
{
    std::string name;
    std::string type; //!< ONNX attribute type: FLOAT, FLOATS, INT, INTS, STRING
    std::vector<std::string> values;
};

struct RawField
{
    std::string name;
    trt::PluginFieldType type;
    int32_t length;
    std::string hex; //!< "null" for a null data pointer
};

struct Input
{
    trt::DataType type;
    trt::Dims dims; //!< the runtime (opt) dims
    trt::Dims min;  //!< the profile's range; both equal dims unless the request gives a range
    trt::Dims max;
};

struct Case
{
    std::string id;
    std::string plugin;
    std::string version;
    std::string ns;
    std::vector<Attr> attrs;
    std::vector<RawField> raws;
    std::vector<Input> inputs;
    bool noFields{false};
};

//! Enum names <-> values of the header version this program is compiled against.
std::string dataTypeName(trt::DataType type);
trt::DataType dataType(std::string const& name);
std::string formatName(trt::TensorFormat format);
std::string fieldTypeName(trt::PluginFieldType type);
trt::PluginFieldType fieldType(std::string const& name);

//! Read the next case from `in`; false at the end.
bool readCase(std::istream& in, Case& c);

class CapturingLogger : public trt::ILogger
{
public:
    void log(Severity severity, char const* msg) noexcept override;
    std::vector<std::string> take();

private:
    std::vector<std::string> mMessages;
};

std::string quote(std::string const& text);
std::string toHex(void const* data, size_t size);
std::vector<uint8_t> fromHex(std::string const& hex);

template <typename T, typename F>
std::string jsonList(std::vector<T> const& items, F&& render)
{
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i)
    {
        out += (i ? "," : "") + render(items[i]);
    }
    return out + "]";
}

//! Run every check of one case with `creators` and return its JSON object.
std::string runCase(Case const& c, trt::IPluginCreatorInterface* const* creators, int32_t nbCreators,
    CapturingLogger& logger);
