#include "harness.h"

#include <cstdio>
#include <istream>
#include <sstream>

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

Input readInput(std::istringstream& words)
{
    int32_t type = 0;
    Input input{};
    words >> type >> input.dims.nbDims;
    input.type = static_cast<trt::DataType>(type);
    for (int32_t i = 0; i < input.dims.nbDims; ++i)
    {
        words >> input.dims.d[i];
    }
    return input;
}
} // namespace

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
            words >> r.name >> r.type >> r.length >> r.hex;
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
