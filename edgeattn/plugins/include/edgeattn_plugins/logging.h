// Logging through TensorRT's logger: the ILoggerFinder handed to setLoggerFinder, or a fallback.
#pragma once

#include "edgeattn_plugins/tensorrt.h"

#include <string>

namespace edgeattn::plugins
{
using Severity = trt::ILogger::Severity;

//! Where log() finds TensorRT's logger when no ILoggerFinder was set (static registration: getLogger()).
using LoggerFallback = trt::ILogger* (*) ();

void setLoggerFinder(trt::ILoggerFinder* finder) noexcept;
void setLoggerFallback(LoggerFallback fallback) noexcept;

//! Log `message` (prefixed "edgeattn: "); without any logger, warnings and errors go to stderr.
void log(Severity severity, std::string const& message) noexcept;

inline void logError(std::string const& message) noexcept
{
    log(Severity::kERROR, message);
}

inline void logWarning(std::string const& message) noexcept
{
    log(Severity::kWARNING, message);
}

inline void logVerbose(std::string const& message) noexcept
{
    log(Severity::kVERBOSE, message);
}
} // namespace edgeattn::plugins
