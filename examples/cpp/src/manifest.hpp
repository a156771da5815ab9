// What the loader reads from an edgeattn bundle: manifest.json (input, preprocessing, outputs) and labels.txt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "preprocess.hpp"

namespace edgeattn {

struct Manifest {
    std::string model;
    std::string inputName;
    std::vector<int64_t> inputShape; //!< NCHW; -1 for a dynamic batch
    Preprocessing preprocessing;
    std::vector<std::string> outputNames;
    std::string precision{"fp32"};
};

//! Read `<bundle>/manifest.json`. Returns false with `error` set for anything but an image bundle
//! in the edgeattn-bundle/1 format.
bool readManifest(std::string const& bundleDir, Manifest& out, std::string& error);

//! Class names from `<bundle>/labels.txt` (one per line); empty when the file is absent.
std::vector<std::string> readLabels(std::string const& bundleDir);

//! Whole file as bytes; false with `error` set when it cannot be read.
bool readFile(std::string const& path, std::string& out, std::string& error);

} // namespace edgeattn
