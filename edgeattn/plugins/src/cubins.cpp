#include "edgeattn_plugins/cubins.h"

namespace edgeattn::plugins
{
Cubin const* findCubin(std::string const& key, int32_t arch) noexcept
{
    size_t count = 0;
    Cubin const* cubins = embeddedCubins(count);
    for (size_t i = 0; i < count; ++i)
    {
        if (cubins[i].arch == arch && key == cubins[i].key)
        {
            return &cubins[i];
        }
    }
    return nullptr;
}

std::string cubinArchs(std::string const& key)
{
    size_t count = 0;
    Cubin const* cubins = embeddedCubins(count);
    std::string archs;
    for (size_t i = 0; i < count; ++i)
    {
        if (key == cubins[i].key)
        {
            archs += (archs.empty() ? "sm_" : ", sm_") + std::to_string(cubins[i].arch);
        }
    }
    return archs;
}
} // namespace edgeattn::plugins
