#include "harness.h"

#include <cstdio>
#include <istream>
#include <sstream>
#include <stdexcept>
#include <utility>

void CapturingLogger::log(Severity severity, char const* msg) noexcept
{
    static char const* const kNames[] = {"INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"};
    mMessages.push_back(std::string(kNames[static_cast<int32_t>(severity)]) + ": " + msg);
}

std::vector<std::string> CapturingLogger::take()
{
    std::vector<std::string> messages;
    messages.swap(mMessages);
    return messages;
}

std::string quote(std::string const& text)
{
    std::string out = "\"";
    for (char c : text)
    {
        if (c == '"' || c == '\\')
        {
            out += '\\';
            out += c;
        }
        else if (static_cast<unsigned char>(c) < 0x20)
        {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
        }
        else
        {
            out += c;
        }
    }
    return out + "\"";
}

std::vector<uint8_t> fromHex(std::string const& hex)
{
    std::vector<uint8_t> bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
    {
        bytes.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
    }
    return bytes;
}

std::string toHex(void const* data, size_t size)
{
    std::string hex;
    char buf[4];
    for (size_t i = 0; i < size; ++i)
    {
        std::snprintf(buf, sizeof(buf), "%02x", static_cast<uint8_t const*>(data)[i]);
        hex += buf;
    }
    return hex;
}

namespace
{
using DT = trt::DataType;
using FT = trt::PluginFieldType;
std::pair<char const*, DT> const kDataTypes[] = {{"kFLOAT", DT::kFLOAT}, {"kHALF", DT::kHALF}, {"kINT8", DT::kINT8},
    {"kINT32", DT::kINT32}, {"kBOOL", DT::kBOOL}, {"kUINT8", DT::kUINT8}, {"kBF16", DT::kBF16}, {"kINT64", DT::kINT64}};
std::pair<char const*, FT> const kFieldTypes[] = {{"kFLOAT16", FT::kFLOAT16}, {"kFLOAT32", FT::kFLOAT32},
    {"kFLOAT64", FT::kFLOAT64}, {"kINT8", FT::kINT8}, {"kINT16", FT::kINT16}, {"kINT32", FT::kINT32},
    {"kCHAR", FT::kCHAR}, {"kDIMS", FT::kDIMS}, {"kUNKNOWN", FT::kUNKNOWN}, {"kBF16", FT::kBF16}, {"kINT64", FT::kINT64}};

template <typename Table, typename Value>
std::string nameOf(Table const& table, Value value)
{
    for (auto const& [name, v] : table)
    {
        if (v == value)
        {
            return name;
        }
    }
    return "?" + std::to_string(static_cast<int32_t>(value));
}

template <typename Table>
auto valueOf(Table const& table, std::string const& name)
{
    for (auto const& [n, v] : table)
    {
        if (name == n)
        {
            return v;
        }
    }
    throw std::invalid_argument("unknown enum name " + name);
}

Attr readAttr(std::istringstream& words)
{
    Attr a;
    size_t n = 0;
    words >> a.name >> a.type >> n;
    a.values.resize(n);
    for (std::string& v : a.values)
    {
        words >> v;
    }
    return a;
}

void readDims(std::istringstream& words, trt::Dims& dims, int32_t rank)
{
    dims.nbDims = rank;
    for (int32_t i = 0; i < rank; ++i)
    {
        words >> dims.d[i];
    }
}

Input readInput(std::istringstream& words)
{
    std::string type;
    int32_t rank = 0;
    Input input{};
    words >> type >> rank;
    input.type = dataType(type);
    readDims(words, input.dims, rank);
    input.min = input.max = input.dims;
    std::string word;
    if (words >> word && word == "range")
    {
        readDims(words, input.min, rank);
        readDims(words, input.max, rank);
    }
    return input;
}
} // namespace

std::string dataTypeName(trt::DataType type)
{
    return nameOf(kDataTypes, type);
}

trt::DataType dataType(std::string const& name)
{
    return valueOf(kDataTypes, name);
}

std::string formatName(trt::TensorFormat format)
{
    return format == trt::TensorFormat::kLINEAR ? "kLINEAR"
        : format == trt::TensorFormat::kCHW32   ? "kCHW32"
                                                : "?" + std::to_string(static_cast<int32_t>(format));
}

std::string fieldTypeName(trt::PluginFieldType type)
{
    return nameOf(kFieldTypes, type);
}

trt::PluginFieldType fieldType(std::string const& name)
{
    return valueOf(kFieldTypes, name);
}

bool readCase(std::istream& in, Case& c)
{
    std::string line;
    bool started = false;
    while (std::getline(in, line))
    {
        std::istringstream words(line);
        std::string word;
        if (!(words >> word))
        {
            continue;
        }
        if (word == "case")
        {
            c = Case{};
            words >> c.id;
            started = true;
        }
        else if (word == "plugin")
        {
            words >> c.plugin >> c.version >> c.ns;
        }
        else if (word == "attr")
        {
            c.attrs.push_back(readAttr(words));
        }
        else if (word == "raw")
        {
            RawField r;
            std::string type;
            words >> r.name >> type >> r.length >> r.hex;
            r.type = fieldType(type);
            c.raws.push_back(r);
        }
        else if (word == "nofields")
        {
            c.noFields = true;
        }
        else if (word == "input")
        {
            c.inputs.push_back(readInput(words));
        }
        else if (word == "end")
        {
            return started;
        }
    }
    return false;
}
