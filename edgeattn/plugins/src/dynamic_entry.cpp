// Entry points of libedgeattn_plugins.so, loaded by IPluginRegistry::loadLibrary (trtexec
// --dynamicPlugins, Python `get_plugin_registry().load_library`). Links no libnvinfer.
#include "edgeattn_plugins/logging.h"
#include "edgeattn_plugins/registry.h"

#define EDGEATTN_EXPORT __attribute__((visibility("default")))

extern "C" EDGEATTN_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) noexcept
{
    return edgeattn::plugins::CreatorRegistry::instance().creators(nbCreators);
}

extern "C" EDGEATTN_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept
{
    edgeattn::plugins::setLoggerFinder(finder);
}
