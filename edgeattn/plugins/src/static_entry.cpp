// Static registration (libedgeattn_plugins_static.so): every creator is registered with
// libnvinfer's global plugin registry when the library is loaded, for hosts that only dlopen or
// LD_PRELOAD it (trtexec --staticPlugins, Isaac ROS, Autoware). Needs libnvinfer at run time.
// It exports no getCreators: IPluginRegistry::loadLibrary on it would register every creator twice.
#include "edgeattn_plugins/logging.h"
#include "edgeattn_plugins/registry.h"

namespace
{
void registerWithTensorRT(nvinfer1::IPluginCreatorV3One& creator)
{
    nvinfer1::IPluginRegistry* registry = getPluginRegistry();
    if (registry == nullptr || !registry->registerCreator(creator, creator.getPluginNamespace()))
    {
        edgeattn::plugins::logError(std::string("could not register plugin creator ") + creator.getPluginNamespace()
            + "::" + creator.getPluginName() + " with TensorRT's plugin registry (registered twice?)");
    }
}

nvinfer1::ILogger* tensorrtLogger()
{
    return getLogger();
}

struct StaticRegistration
{
    StaticRegistration() noexcept
    {
        edgeattn::plugins::setLoggerFallback(&tensorrtLogger);
        edgeattn::plugins::CreatorRegistry::instance().setSink(&registerWithTensorRT);
    }
};

StaticRegistration const gStaticRegistration{};
} // namespace
