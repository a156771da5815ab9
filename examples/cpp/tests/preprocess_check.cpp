// Host-only check binary for the loader's preprocessing (no TensorRT, no CUDA): tests/runtime compares its
// output with edgeattn.runtime's Python implementation and Pillow.
//
//   preprocess_check preprocess BUNDLE_DIR FRAME.ppm OUT.f32   manifest preprocessing -> raw float32 CHW
//   preprocess_check resize FRAME.ppm WIDTH HEIGHT FILTER OUT.rgb   resize only -> raw uint8 HWC
//   preprocess_check manifest BUNDLE_DIR                        print what the loader reads from manifest.json
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "manifest.hpp"
#include "preprocess.hpp"

namespace {

int fail(std::string const& message)
{
    std::cerr << "error: " << message << "\n";
    return 1;
}

bool write(std::string const& path, void const* data, size_t bytes)
{
    std::ofstream file(path, std::ios::binary);
    file.write(static_cast<char const*>(data), static_cast<std::streamsize>(bytes));
    return static_cast<bool>(file);
}

int runPreprocess(char** argv)
{
    std::string error;
    edgeattn::Manifest manifest;
    edgeattn::Image image;
    std::vector<float> chw;
    if (!edgeattn::readManifest(argv[2], manifest, error) || !edgeattn::readNetpbm(argv[3], image, error)
        || !edgeattn::preprocess(image, manifest.preprocessing, chw, error))
    {
        return fail(error);
    }
    return write(argv[4], chw.data(), chw.size() * sizeof(float)) ? 0 : fail(std::string("cannot write ") + argv[4]);
}

int runResize(char** argv)
{
    std::string error;
    edgeattn::Image image;
    edgeattn::Image out;
    if (!edgeattn::readNetpbm(argv[2], image, error)
        || !edgeattn::resize(image, std::atoi(argv[3]), std::atoi(argv[4]), argv[5], out, error))
    {
        return fail(error);
    }
    return write(argv[6], out.pixels.data(), out.pixels.size()) ? 0 : fail(std::string("cannot write ") + argv[6]);
}

int runManifest(char** argv)
{
    std::string error;
    edgeattn::Manifest m;
    if (!edgeattn::readManifest(argv[2], m, error))
    {
        return fail(error);
    }
    edgeattn::Preprocessing const& p = m.preprocessing;
    std::printf("model %s\ninput %s [%lld, %lld, %lld, %lld]\n", m.model.c_str(), m.inputName.c_str(),
        static_cast<long long>(m.inputShape[0]), static_cast<long long>(m.inputShape[1]),
        static_cast<long long>(m.inputShape[2]), static_cast<long long>(m.inputShape[3]));
    std::printf("preprocessing %d %s %.9g mean %.9g %.9g %.9g std %.9g %.9g %.9g %s\n", p.resolution,
        p.interpolation.c_str(), p.cropPct, p.mean[0], p.mean[1], p.mean[2], p.std[0], p.std[1], p.std[2],
        p.color.c_str());
    for (std::string const& name : m.outputNames)
    {
        std::printf("output %s\n", name.c_str());
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    std::string const mode = argc > 1 ? argv[1] : "";
    if (mode == "preprocess" && argc == 5)
    {
        return runPreprocess(argv);
    }
    if (mode == "resize" && argc == 7)
    {
        return runResize(argv);
    }
    if (mode == "manifest" && argc == 3)
    {
        return runManifest(argv);
    }
    std::cerr << "usage: preprocess_check preprocess BUNDLE_DIR FRAME.ppm OUT.f32\n"
                 "       preprocess_check resize FRAME.ppm WIDTH HEIGHT FILTER OUT.rgb\n"
                 "       preprocess_check manifest BUNDLE_DIR\n";
    return 2;
}
