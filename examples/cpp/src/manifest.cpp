#include "manifest.hpp"

#include <fstream>
#include <sstream>

#include "json.hpp"

namespace edgeattn {
namespace {

bool numbers(Json const* node, size_t count, float* out)
{
    if (node == nullptr || !node->isArray() || node->array().size() != count)
    {
        return false;
    }
    for (size_t i = 0; i < count; ++i)
    {
        if (!node->array()[i].isNumber())
        {
            return false;
        }
        out[i] = static_cast<float>(node->array()[i].number());
    }
    return true;
}

bool readPreprocessing(Json const& node, Preprocessing& out, std::string& error)
{
    Json const* resolution = node.find("resolution");
    Json const* interpolation = node.find("interpolation");
    Json const* cropPct = node.find("crop_pct");
    Json const* color = node.find("color");
    if (resolution == nullptr || !resolution->isNumber() || interpolation == nullptr || !interpolation->isString()
        || cropPct == nullptr || !cropPct->isNumber() || !numbers(node.find("mean"), 3, out.mean)
        || !numbers(node.find("std"), 3, out.std))
    {
        error = "input.preprocessing needs resolution, interpolation, crop_pct, mean[3] and std[3]";
        return false;
    }
    out.resolution = static_cast<int>(resolution->number());
    out.interpolation = interpolation->string();
    out.cropPct = cropPct->number();
    out.color = (color != nullptr && color->isString()) ? color->string() : "RGB";
    return validate(out, error);
}

bool readShape(Json const* node, std::vector<int64_t>& shape, std::string& error)
{
    if (node == nullptr || !node->isArray() || node->array().size() != 4)
    {
        error = "input.shape must have 4 dimensions (NCHW)";
        return false;
    }
    for (Json const& dim : node->array())
    {
        shape.push_back(dim.isNumber() ? static_cast<int64_t>(dim.number()) : -1); // "batch": dynamic
    }
    return true;
}

} // namespace

bool readFile(std::string const& path, std::string& out, std::string& error)
{
    std::ifstream file(path, std::ios::binary);
    if (!file)
    {
        error = "cannot open " + path;
        return false;
    }
    std::ostringstream buffer;
    buffer << file.rdbuf();
    out = buffer.str();
    return true;
}

bool readManifest(std::string const& bundleDir, Manifest& out, std::string& error)
{
    std::string const path = bundleDir + "/manifest.json";
    std::string text;
    Json root;
    if (!readFile(path, text, error) || !Json::parse(text, root, error))
    {
        error = path + ": " + error;
        return false;
    }
    Json const* format = root.find("format");
    Json const* input = root.find("input");
    Json const* model = root.find("model");
    if (format == nullptr || !format->isString() || format->string() != "edgeattn-bundle/1" || input == nullptr
        || model == nullptr)
    {
        error = path + " is not an edgeattn-bundle/1 manifest";
        return false;
    }
    Json const* kind = input->find("kind");
    if (kind != nullptr && kind->isString() && kind->string() != "image")
    {
        error = "this is a " + kind->string() + " bundle: the set partition runs in edgeattn.runtime (Python)";
        return false;
    }
    Json const* name = model->find("name");
    Json const* inputName = input->find("name");
    Json const* preprocessing = input->find("preprocessing");
    Json const* outputs = root.find("outputs");
    if (name == nullptr || inputName == nullptr || preprocessing == nullptr || outputs == nullptr
        || !outputs->isArray())
    {
        error = path + " lacks model.name, input.name, input.preprocessing or outputs";
        return false;
    }
    out.model = name->string();
    out.inputName = inputName->string();
    for (Json const& output : outputs->array())
    {
        Json const* outputName = output.find("name");
        if (outputName != nullptr && outputName->isString())
        {
            out.outputNames.push_back(outputName->string());
        }
    }
    Json const* precision = root.find("precision");
    if (precision != nullptr && precision->find("precision") != nullptr)
    {
        out.precision = precision->find("precision")->string();
    }
    if (!readShape(input->find("shape"), out.inputShape, error)
        || !readPreprocessing(*preprocessing, out.preprocessing, error))
    {
        error = path + ": " + error;
        return false;
    }
    return true;
}

std::vector<std::string> readLabels(std::string const& bundleDir)
{
    std::vector<std::string> labels;
    std::ifstream file(bundleDir + "/labels.txt");
    std::string line;
    while (std::getline(file, line))
    {
        if (!line.empty())
        {
            labels.push_back(line);
        }
    }
    return labels;
}

} // namespace edgeattn
