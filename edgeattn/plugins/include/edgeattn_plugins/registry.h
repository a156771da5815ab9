// The creators this library provides: each op folder adds its creator with a static registrar.
#pragma once

#include "edgeattn_plugins/tensorrt.h"

#include <cstdint>

namespace edgeattn::plugins
{
//! Called for every creator added (immediately for those added before the sink was set).
using CreatorSink = void (*)(trt::IPluginCreatorV3One& creator);

class CreatorRegistry
{
public:
    static CreatorRegistry& instance() noexcept;

    void add(trt::IPluginCreatorV3One& creator) noexcept;

    //! All creators, sorted by plugin name (what getCreators returns).
    trt::IPluginCreatorInterface* const* creators(int32_t& count) noexcept;

    //! Forward every creator to `sink` (the statically registering library's registrar).
    void setSink(CreatorSink sink) noexcept;

private:
    CreatorRegistry() = default;
};

//! `static RegisterCreator<MyCreator> registrar;` in an op's plugin source adds MyCreator once.
template <typename Creator>
class RegisterCreator
{
public:
    RegisterCreator() noexcept
    {
        static Creator creator;
        CreatorRegistry::instance().add(creator);
    }
};
} // namespace edgeattn::plugins

//! Register a creator class with the library: one line inside namespace edgeattn::plugins at the end
//! of an op's plugin source, naming the creator class without qualification.
#define EDGEATTN_REGISTER_CREATOR(Creator)                                                                             \
    namespace                                                                                                          \
    {                                                                                                                  \
    ::edgeattn::plugins::RegisterCreator<Creator> const gRegister##Creator{};                                         \
    }
