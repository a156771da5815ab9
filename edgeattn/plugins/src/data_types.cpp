#include "edgeattn_plugins/plugin_base.h"

namespace edgeattn::plugins
{
std::string dataTypeName(trt::DataType type)
{
    switch (type)
    {
    case trt::DataType::kFLOAT: return "kFLOAT";
    case trt::DataType::kHALF: return "kHALF";
    case trt::DataType::kINT8: return "kINT8";
    case trt::DataType::kINT32: return "kINT32";
    case trt::DataType::kBOOL: return "kBOOL";
    case trt::DataType::kUINT8: return "kUINT8";
    case trt::DataType::kBF16: return "kBF16";
    case trt::DataType::kINT64: return "kINT64";
    default: return "DataType " + std::to_string(static_cast<int32_t>(type));
    }
}
} // namespace edgeattn::plugins
