// edgeattn_loader: run an edgeattn bundle's TensorRT engine on one frame; print the top-5 and the latency.
//
//   edgeattn_loader BUNDLE_DIR FRAME.ppm [--engine FILE] [--plugins LIB] [--warmup N] [--iterations N]
//
// The engine defaults to the one ./build_engine.sh wrote for this TensorRT version and GPU
// (model[.plugins][.fp16|.int8].trt<major.minor>.sm_<cc>.engine, at the manifest's precision); the plugin
// library to $EDGEATTN_PLUGIN_LIB or BUNDLE_DIR/plugins/libedgeattn_plugins.so for plugin engines.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "engine.hpp"
#include "manifest.hpp"
#include "preprocess.hpp"

namespace fs = std::filesystem;

namespace {

struct Options {
    std::string bundle;
    std::string frame;
    std::string engine;
    std::string plugins;
    int warmup{10};
    int iterations{100};
};

bool parseArgs(int argc, char** argv, Options& options)
{
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i)
    {
        std::string const arg = argv[i];
        bool const hasValue = i + 1 < argc;
        if (arg == "--engine" && hasValue) options.engine = argv[++i];
        else if (arg == "--plugins" && hasValue) options.plugins = argv[++i];
        else if (arg == "--warmup" && hasValue) options.warmup = std::atoi(argv[++i]);
        else if (arg == "--iterations" && hasValue) options.iterations = std::atoi(argv[++i]);
        else if (arg.rfind("--", 0) == 0) return false;
        else positional.push_back(arg);
    }
    if (positional.size() != 2 || options.iterations < 1 || options.warmup < 0)
    {
        return false;
    }
    options.bundle = positional[0];
    options.frame = positional[1];
    return true;
}

std::string defaultPlugins(Options const& options)
{
    char const* env = std::getenv("EDGEATTN_PLUGIN_LIB");
    std::string path = env != nullptr ? env : "plugins/libedgeattn_plugins.so";
    return fs::path(path).is_absolute() ? path : options.bundle + "/" + path;
}

//! The engine build_engine.sh names for this TensorRT version, GPU and precision (plugins preferred
//! when its library exists); "" with `error` when there is none.
std::string findEngine(Options const& options, std::string const& precision, std::string& error)
{
    std::string const middle = precision == "fp32" ? "" : "." + precision;
    std::string const tail = middle + ".trt" + edgeattn::tensorrtVersion() + "." + edgeattn::deviceArch() + ".engine";
    std::string const plugins = options.bundle + "/model.plugins" + tail;
    std::string const portable = options.bundle + "/model" + tail;
    if (fs::is_regular_file(plugins) && fs::is_regular_file(defaultPlugins(options)))
    {
        return plugins;
    }
    if (fs::is_regular_file(portable))
    {
        return portable;
    }
    error = "no engine " + portable + " (or its .plugins variant): run ./build_engine.sh in the bundle on this device";
    return "";
}

double percentile(std::vector<double> values, double q)
{
    std::sort(values.begin(), values.end());
    double const rank = q * (values.size() - 1);
    size_t const low = static_cast<size_t>(std::floor(rank));
    size_t const high = std::min(low + 1, values.size() - 1);
    return values[low] + (values[high] - values[low]) * (rank - low);
}

void printTop5(std::vector<float> const& logits, size_t classes, std::vector<std::string> const& labels)
{
    float const peak = *std::max_element(logits.begin(), logits.begin() + classes);
    std::vector<double> probability(classes);
    double total = 0.0;
    for (size_t i = 0; i < classes; ++i)
    {
        probability[i] = std::exp(static_cast<double>(logits[i]) - peak);
        total += probability[i];
    }
    std::vector<size_t> order(classes);
    std::iota(order.begin(), order.end(), 0);
    size_t const k = std::min<size_t>(5, classes);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
        [&](size_t a, size_t b) { return probability[a] > probability[b] || (probability[a] == probability[b] && a < b); });
    std::printf("top-%zu:\n", k);
    for (size_t i = 0; i < k; ++i)
    {
        size_t const c = order[i];
        std::printf("  %5zu  %.5f  %s\n", c, probability[c] / total, c < labels.size() ? labels[c].c_str() : "");
    }
}

struct Timings {
    std::vector<double> hostMs; //!< copy in + enqueue + copy out, measured on the host
    std::vector<double> gpuMs;  //!< enqueue to finish, CUDA events
};

//! Warm-up runs, then timed runs; `logits` holds the last run's output.
bool benchmark(edgeattn::Engine& engine, std::vector<float> const& input, std::string const& output,
    Options const& options, std::vector<float>& logits, Timings& timings, std::string& error)
{
    for (int i = 0; i < options.warmup + options.iterations; ++i)
    {
        float gpu = 0.f;
        auto const start = std::chrono::steady_clock::now();
        if (!engine.infer(input, output, logits, gpu, error))
        {
            return false;
        }
        auto const stop = std::chrono::steady_clock::now();
        if (i >= options.warmup)
        {
            timings.hostMs.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
            timings.gpuMs.push_back(gpu);
        }
    }
    return true;
}

int fail(std::string const& message)
{
    std::cerr << "error: " << message << "\n";
    return 1;
}

} // namespace

int main(int argc, char** argv)
{
    Options options;
    if (!parseArgs(argc, argv, options))
    {
        std::cerr << "usage: edgeattn_loader BUNDLE_DIR FRAME.ppm [--engine FILE] [--plugins LIB] [--warmup N] "
                     "[--iterations N]\n(convert a photo with e.g. `convert photo.jpg frame.ppm`)\n";
        return 2;
    }
    std::string error;
    edgeattn::Manifest manifest;
    edgeattn::Image image;
    std::vector<float> chw;
    if (!edgeattn::readManifest(options.bundle, manifest, error) || !edgeattn::readNetpbm(options.frame, image, error)
        || !edgeattn::preprocess(image, manifest.preprocessing, chw, error))
    {
        return fail(error);
    }
    std::string const enginePath = options.engine.empty() ? findEngine(options, manifest.precision, error) : options.engine;
    if (enginePath.empty())
    {
        return fail(error);
    }
    bool const pluginEngine = enginePath.find(".plugins.") != std::string::npos;
    std::string const plugins = !options.plugins.empty() ? options.plugins : (pluginEngine ? defaultPlugins(options) : "");
    int64_t const batch = manifest.inputShape[0] > 0 ? manifest.inputShape[0] : 1;
    nvinfer1::Dims shape{};
    shape.nbDims = 4;
    shape.d[0] = batch;
    for (int i = 1; i < 4; ++i)
    {
        shape.d[i] = manifest.inputShape[i];
    }
    std::vector<float> input;
    for (int64_t b = 0; b < batch; ++b)
    {
        input.insert(input.end(), chw.begin(), chw.end());
    }
    edgeattn::Engine engine;
    if (!engine.load(enginePath, plugins, error) || !engine.bind(manifest.inputName, shape, error))
    {
        return fail(error);
    }
    std::string const output = manifest.outputNames.empty() ? "logits" : manifest.outputNames.front();
    std::vector<float> logits;
    Timings timings;
    if (!benchmark(engine, input, output, options, logits, timings, error))
    {
        return fail(error);
    }
    std::printf("%s on TensorRT %s, %s: %s\n", manifest.model.c_str(), edgeattn::tensorrtVersion().c_str(),
        edgeattn::deviceArch().c_str(), enginePath.c_str());
    printTop5(logits, logits.size() / static_cast<size_t>(batch), edgeattn::readLabels(options.bundle));
    std::printf("latency over %d runs (batch %lld): GPU median %.3f ms, p90 %.3f ms; with copies median %.3f ms, "
                "p90 %.3f ms\n", options.iterations, static_cast<long long>(batch), percentile(timings.gpuMs, 0.5),
        percentile(timings.gpuMs, 0.9), percentile(timings.hostMs, 0.5), percentile(timings.hostMs, 0.9));
    return 0;
}
