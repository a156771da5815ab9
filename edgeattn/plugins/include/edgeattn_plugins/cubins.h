// The Triton cubins embedded in this library at build time (generated from the folder that
// `edgeattn.plugins.compile` writes: one sm_<arch>/variants.tsv plus its .cubin files per arch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace edgeattn::plugins
{
struct Cubin
{
    int32_t arch;               //!< compute capability, e.g. 87 for sm_87
    char const* kernel;         //!< the kernel's symbol in the cubin
    char const* key;            //!< variant key (kernel, argument types, constexpr values)
    int32_t numWarps;           //!< block = 32 * numWarps threads
    int32_t sharedBytes;        //!< dynamic shared memory of a launch
    int32_t numParams;          //!< kernel parameters, Triton's two hidden scratch pointers included
    int64_t globalScratchBytes; //!< Triton global scratch per program (0: none)
    int32_t globalScratchAlign; //!< its alignment in bytes
    unsigned char const* image; //!< the cubin (an ELF file)
    size_t imageSize;
};

//! All embedded cubins (count in `count`; nullptr when the library was built without any).
Cubin const* embeddedCubins(size_t& count) noexcept;

//! The cubin of variant `key` for `arch`, or nullptr.
Cubin const* findCubin(std::string const& key, int32_t arch) noexcept;

//! "sm_87, sm_90": the archs that have variant `key` ("" when none has it).
std::string cubinArchs(std::string const& key);
} // namespace edgeattn::plugins
