#include "edgeattn_plugins/registry.h"

#include "edgeattn_plugins/logging.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

namespace edgeattn::plugins
{
namespace
{
struct State
{
    std::mutex mutex;
    std::vector<trt::IPluginCreatorV3One*> creators;
    std::vector<trt::IPluginCreatorInterface*> view;
    CreatorSink sink{nullptr};
};

State& state() noexcept
{
    static State instance;
    return instance;
}
} // namespace

CreatorRegistry& CreatorRegistry::instance() noexcept
{
    static CreatorRegistry registry;
    return registry;
}

void CreatorRegistry::add(trt::IPluginCreatorV3One& creator) noexcept
{
    State& s = state();
    CreatorSink sink = nullptr;
    try
    {
        std::lock_guard<std::mutex> lock(s.mutex);
        s.creators.push_back(&creator);
        std::sort(s.creators.begin(), s.creators.end(), [](auto const* a, auto const* b) {
            return std::strcmp(a->getPluginName(), b->getPluginName()) < 0;
        });
        s.view.assign(s.creators.begin(), s.creators.end());
        sink = s.sink;
    }
    catch (...)
    {
        logError(std::string("out of memory registering plugin creator ") + creator.getPluginName());
        return;
    }
    if (sink != nullptr)
    {
        sink(creator);
    }
}

trt::IPluginCreatorInterface* const* CreatorRegistry::creators(int32_t& count) noexcept
{
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    count = static_cast<int32_t>(s.view.size());
    return s.view.data();
}

void CreatorRegistry::setSink(CreatorSink sink) noexcept
{
    State& s = state();
    std::vector<trt::IPluginCreatorV3One*> existing;
    {
        std::lock_guard<std::mutex> lock(s.mutex);
        s.sink = sink;
        existing = s.creators;
    }
    for (trt::IPluginCreatorV3One* creator : existing)
    {
        sink(*creator);
    }
}
} // namespace edgeattn::plugins
