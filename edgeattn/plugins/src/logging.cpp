#include "edgeattn_plugins/logging.h"

#include <atomic>
#include <cstdio>

namespace edgeattn::plugins
{
namespace
{
std::atomic<trt::ILoggerFinder*> gFinder{nullptr};
std::atomic<LoggerFallback> gFallback{nullptr};

trt::ILogger* currentLogger() noexcept
{
    if (trt::ILoggerFinder* finder = gFinder.load())
    {
        if (trt::ILogger* logger = finder->findLogger())
        {
            return logger;
        }
    }
    LoggerFallback fallback = gFallback.load();
    return fallback != nullptr ? fallback() : nullptr;
}
} // namespace

void setLoggerFinder(trt::ILoggerFinder* finder) noexcept
{
    gFinder.store(finder);
}

void setLoggerFallback(LoggerFallback fallback) noexcept
{
    gFallback.store(fallback);
}

void log(Severity severity, std::string const& message) noexcept
{
    try
    {
        std::string const text = "edgeattn: " + message;
        if (trt::ILogger* logger = currentLogger())
        {
            logger->log(severity, text.c_str());
        }
        else if (severity <= Severity::kWARNING)
        {
            std::fprintf(stderr, "%s\n", text.c_str());
        }
    }
    catch (...)
    {
        std::fputs("edgeattn: out of memory while logging\n", stderr);
    }
}
} // namespace edgeattn::plugins
