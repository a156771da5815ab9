// plugin_host_test LIBRARY REQUESTS: loads LIBRARY as IPluginRegistry::loadLibrary does (dlopen,
// setLoggerFinder, getCreators) and, for every case in the REQUESTS file, exercises one creator and
// its plugin without a GPU: fields built as TensorRT's ONNX parser builds them from the node's
// attributes, createPlugin(kBUILD), output types and shapes (on concrete dims), every format
// combination, getFieldsToSerialize -> createPlugin(kRUNTIME), clone, attachToContext, and
// configurePlugin / getWorkspaceSize / onShapeChange for every accepted type combination.
// Prints one JSON object per case; the Python tests (tests/plugins) hold the expectations.
//
// Request lines (a case ends with "end"):
//   case <id>
//   plugin <name> <version> <namespace>
//   attr <name> FLOAT|FLOATS|INT|INTS|STRING <count> <values>  floats as float32 bit patterns (8 hex
//                                                               digits), ints decimal, strings hex
//   raw <name> <PluginFieldType name> <length> <hex bytes | null>   a field passed as given
//   nofields                                                        pass a null PluginFieldCollection
//   input <DataType name> <rank> <dims...> [range <min dims...> <max dims...>]
//                                   runtime dims; the profile's range for configurePlugin (default: the dims)
// Enums are read and written by name (kFLOAT, kLINEAR, kFLOAT32, ...).
#include "harness.h"

#include <dlfcn.h>
#include <fstream>
#include <iostream>

namespace
{
class Finder : public trt::ILoggerFinder
{
public:
    explicit Finder(trt::ILogger* logger)
        : mLogger(logger)
    {
    }
    trt::ILogger* findLogger() override
    {
        return mLogger;
    }

private:
    trt::ILogger* mLogger;
};

using GetCreators = trt::IPluginCreatorInterface* const* (*) (int32_t&);
using SetLoggerFinder = void (*)(trt::ILoggerFinder*);
} // namespace

int main(int argc, char** argv)
{
    if (argc != 3)
    {
        std::cerr << "usage: plugin_host_test LIBRARY REQUESTS\n";
        return 2;
    }
    void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
    {
        std::cerr << "cannot load " << argv[1] << ": " << dlerror() << "\n";
        return 1;
    }
    auto getCreators = reinterpret_cast<GetCreators>(dlsym(handle, "getCreators"));
    auto setLoggerFinder = reinterpret_cast<SetLoggerFinder>(dlsym(handle, "setLoggerFinder"));
    if (getCreators == nullptr || setLoggerFinder == nullptr)
    {
        std::cerr << argv[1] << " does not export getCreators and setLoggerFinder\n";
        return 1;
    }
    CapturingLogger logger;
    Finder finder(&logger);
    setLoggerFinder(&finder);
    int32_t nbCreators = 0;
    trt::IPluginCreatorInterface* const* creators = getCreators(nbCreators);
    std::cout << "{\"creators\":" << nbCreators << ",\"log\":"
              << jsonList(logger.take(), [](std::string const& m) { return quote(m); }) << "}\n";
    std::ifstream requests(argv[2]);
    Case c;
    while (readCase(requests, c))
    {
        std::cout << runCase(c, creators, nbCreators, logger) << "\n";
    }
    setLoggerFinder(nullptr);
    dlclose(handle);
    return 0;
}
