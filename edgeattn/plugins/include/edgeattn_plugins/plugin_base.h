// IPluginV3 boilerplate shared by every edgeattn plugin, so an op's plugin source holds only its
// own knowledge. An op plugin `P : PluginBase<P>` provides:
//
//   static constexpr char const* kName;                 // the ONNX op_type
//   static constexpr int32_t kNbInputs, kNbOutputs;    // or, for an op with optional inputs whose
//                                                        // count comes from its fields, a member
//                                                        // int32_t nbInputs() const noexcept
//   static std::vector<FieldSpec> fieldSpecs();         // exactly the node's attributes
//   static std::string validate(Fields const&);         // "" or why the values are unusable
//   P(std::string layerName, Fields fields);
//   std::vector<IOTypes> ioTypes() const;               // accepted data types, inputs then outputs
//   int32_t outputShapes(DimsExprs const* in, DimsExprs* out, IExprBuilder&) const;
//   std::optional<Launch> plan(PluginTensorDesc const* in, PluginTensorDesc const* out) const;
//                                                        // the kernel call and its device constants;
//                                                        // nullopt (with a logged reason) for bad shapes
//
// Formats are linear only. Build phase: configurePlugin checks that the kernel variant for the
// profile's min and max shapes is embedded. Runtime: onShapeChange plans the launch and loads the
// cubin (KernelLauncher); enqueue only launches.
#pragma once

#include "edgeattn_plugins/fields.h"
#include "edgeattn_plugins/launch.h"
#include "edgeattn_plugins/logging.h"
#include "edgeattn_plugins/tensorrt.h"

#include <algorithm>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edgeattn::plugins
{
constexpr char const* kPluginNamespace = "edgeattn";
constexpr char const* kPluginVersion = "1";

using IOTypes = std::vector<trt::DataType>;

//! "kFLOAT", "kHALF", ... for messages.
std::string dataTypeName(trt::DataType type);

template <typename Derived>
class PluginBase : public trt::IPluginV3,
                   public trt::IPluginV3OneCore,
                   public trt::IPluginV3OneBuild,
                   public trt::IPluginV3OneRuntime
{
public:
    PluginBase(std::string layerName, Fields fields)
        : mLayerName(std::move(layerName))
        , mFields(std::move(fields))
    {
    }

    //! Inputs of this plugin: Derived::kNbInputs unless Derived hides this with its own nbInputs().
    int32_t nbInputs() const noexcept
    {
        return Derived::kNbInputs;
    }

    trt::IPluginCapability* getCapabilityInterface(trt::PluginCapabilityType type) noexcept override
    {
        switch (type)
        {
        case trt::PluginCapabilityType::kCORE: return static_cast<trt::IPluginV3OneCore*>(this);
        case trt::PluginCapabilityType::kBUILD: return static_cast<trt::IPluginV3OneBuild*>(this);
        case trt::PluginCapabilityType::kRUNTIME: return static_cast<trt::IPluginV3OneRuntime*>(this);
        }
        return nullptr;
    }

    trt::IPluginV3* clone() noexcept override
    {
        try
        {
            return new Derived(self());
        }
        catch (...)
        {
            logError(context() + ": out of memory cloning the plugin");
            return nullptr;
        }
    }

    char const* getPluginName() const noexcept override
    {
        return Derived::kName;
    }
    char const* getPluginVersion() const noexcept override
    {
        return kPluginVersion;
    }
    char const* getPluginNamespace() const noexcept override
    {
        return kPluginNamespace;
    }
    int32_t getNbOutputs() const noexcept override
    {
        return Derived::kNbOutputs;
    }

    int32_t getOutputDataTypes(trt::DataType* outputTypes, int32_t nbOutputs, trt::DataType const* inputTypes,
        int32_t nbInputs) const noexcept override
    {
        if (!counts(nbInputs, nbOutputs))
        {
            return -1;
        }
        for (IOTypes const& types : self().ioTypes())
        {
            if (std::equal(inputTypes, inputTypes + nbInputs, types.begin()))
            {
                std::copy(types.begin() + nbInputs, types.end(), outputTypes);
                return 0;
            }
        }
        logError(context() + ": unsupported input types " + typeList(inputTypes, nbInputs) + "; supported: "
            + supportedTypes());
        return -1;
    }

    int32_t getOutputShapes(trt::DimsExprs const* inputs, int32_t nbInputs, trt::DimsExprs const* /*shapeInputs*/,
        int32_t /*nbShapeInputs*/, trt::DimsExprs* outputs, int32_t nbOutputs,
        trt::IExprBuilder& exprBuilder) noexcept override
    {
        return counts(nbInputs, nbOutputs) ? self().outputShapes(inputs, outputs, exprBuilder) : -1;
    }

    bool supportsFormatCombination(
        int32_t pos, trt::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept override
    {
        if (nbInputs != self().nbInputs() || nbOutputs != Derived::kNbOutputs || pos < 0
            || pos >= nbInputs + nbOutputs || inOut[pos].desc.format != trt::TensorFormat::kLINEAR)
        {
            return false;
        }
        for (IOTypes const& types : self().ioTypes())
        {
            bool matches = true;
            for (int32_t i = 0; i <= pos && matches; ++i)
            {
                matches = inOut[i].desc.type == types[static_cast<size_t>(i)];
            }
            if (matches)
            {
                return true;
            }
        }
        return false;
    }

    int32_t configurePlugin(trt::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        trt::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override
    {
        if (!counts(nbInputs, nbOutputs))
        {
            return -1;
        }
        for (bool useMax : {false, true})
        {
            std::optional<Launch> launch = planBound(in, out, useMax);
            if (!launch)
            {
                return -1;
            }
            std::string const missing = missingCubin(launch->call);
            if (!missing.empty())
            {
                logError(context() + ": " + missing);
                return -1;
            }
        }
        return 0;
    }

    size_t getWorkspaceSize(trt::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        trt::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override
    {
        if (!counts(nbInputs, nbOutputs))
        {
            return 0;
        }
        std::optional<Launch> launch = planBound(inputs, outputs, true);
        return launch ? workspaceBytes(launch->call) : 0;
    }

    int32_t onShapeChange(trt::PluginTensorDesc const* in, int32_t nbInputs, trt::PluginTensorDesc const* out,
        int32_t nbOutputs) noexcept override
    {
        if (!counts(nbInputs, nbOutputs))
        {
            return -1;
        }
        try
        {
            std::optional<Launch> launch = planChecked(in, out);
            if (!launch)
            {
                return -1;
            }
            logVerbose(context() + ": launch " + launch->call.describe());
            return mLauncher.prepare(launch->call, launch->constants, context());
        }
        catch (...)
        {
            logError(context() + ": out of memory planning the launch");
            return -1;
        }
    }

    int32_t enqueue(trt::PluginTensorDesc const* /*inputDesc*/, trt::PluginTensorDesc const* /*outputDesc*/,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override
    {
        return mLauncher.launch(inputs, outputs, workspace, stream);
    }

    trt::IPluginV3* attachToContext(trt::IPluginResourceContext* /*context*/) noexcept override
    {
        return clone();
    }

    trt::PluginFieldCollection const* getFieldsToSerialize() noexcept override
    {
        return mFields.collection();
    }

protected:
    Fields const& fields() const noexcept
    {
        return mFields;
    }

    //! "SingleHeadAttention 'layer name'": how log messages name this plugin.
    std::string context() const
    {
        return std::string(Derived::kName) + " '" + mLayerName + "'";
    }

private:
    Derived const& self() const noexcept
    {
        return static_cast<Derived const&>(*this);
    }

    bool counts(int32_t nbInputs, int32_t nbOutputs) const
    {
        if (nbInputs == self().nbInputs() && nbOutputs == Derived::kNbOutputs)
        {
            return true;
        }
        logError(context() + ": expected " + std::to_string(self().nbInputs()) + " inputs and "
            + std::to_string(Derived::kNbOutputs) + " outputs, got " + std::to_string(nbInputs) + " and "
            + std::to_string(nbOutputs));
        return false;
    }

    std::optional<Launch> planBound(
        trt::DynamicPluginTensorDesc const* in, trt::DynamicPluginTensorDesc const* out, bool useMax) const noexcept
    {
        try
        {
            return planDims(in, out, useMax);
        }
        catch (...)
        {
            logError(context() + ": out of memory planning the launch");
            return std::nullopt;
        }
    }

    std::optional<Launch> planDims(
        trt::DynamicPluginTensorDesc const* in, trt::DynamicPluginTensorDesc const* out, bool useMax) const
    {
        std::vector<trt::PluginTensorDesc> inputs;
        std::vector<trt::PluginTensorDesc> outputs;
        for (int32_t i = 0; i < self().nbInputs(); ++i)
        {
            inputs.push_back(in[i].desc);
            inputs.back().dims = useMax ? in[i].max : in[i].min;
        }
        for (int32_t i = 0; i < Derived::kNbOutputs; ++i)
        {
            outputs.push_back(out[i].desc);
            outputs.back().dims = useMax ? out[i].max : out[i].min;
        }
        return planChecked(inputs.data(), outputs.data());
    }

    //! The op's plan for tensors whose types are one of its accepted combinations.
    std::optional<Launch> planChecked(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        std::vector<trt::DataType> types;
        for (int32_t i = 0; i < self().nbInputs(); ++i)
        {
            types.push_back(in[i].type);
        }
        for (int32_t i = 0; i < Derived::kNbOutputs; ++i)
        {
            types.push_back(out[i].type);
        }
        for (IOTypes const& accepted : self().ioTypes())
        {
            if (accepted == types)
            {
                return self().plan(in, out);
            }
        }
        logError(context() + ": unsupported tensor types " + typeList(types.data(), types.size()) + "; supported: "
            + supportedTypes());
        return std::nullopt;
    }

    static std::string typeList(trt::DataType const* types, size_t count)
    {
        std::string text = "(";
        for (size_t i = 0; i < count; ++i)
        {
            text += (i ? ", " : "") + dataTypeName(types[i]);
        }
        return text + ")";
    }

    std::string supportedTypes() const
    {
        std::string text;
        for (IOTypes const& types : self().ioTypes())
        {
            text += (text.empty() ? "" : ", ") + typeList(types.data(), self().nbInputs()) + " -> "
                + typeList(types.data() + self().nbInputs(), Derived::kNbOutputs);
        }
        return text;
    }

    std::string mLayerName;
    Fields mFields;
    KernelLauncher mLauncher;
};

//! The creator of plugin `Plugin`: fields parsed and validated, nullptr with a logged reason otherwise.
template <typename Plugin>
class CreatorBase : public trt::IPluginCreatorV3One
{
public:
    trt::PluginFieldCollection const* getFieldNames() noexcept override
    {
        return names().collection();
    }

    trt::IPluginV3* createPlugin(
        char const* name, trt::PluginFieldCollection const* fc, trt::TensorRTPhase /*phase*/) noexcept override
    {
        try
        {
            std::string const layer = name != nullptr ? name : "";
            std::string const context = std::string(Plugin::kName) + " '" + layer + "'";
            std::optional<Fields> fields = Fields::parse(names().specs(), fc, context);
            if (!fields)
            {
                return nullptr;
            }
            std::string const why = Plugin::validate(*fields);
            if (!why.empty())
            {
                logError(context + ": " + why);
                return nullptr;
            }
            return new Plugin(layer, std::move(*fields));
        }
        catch (...)
        {
            logError(std::string(Plugin::kName) + ": out of memory creating the plugin");
            return nullptr;
        }
    }

    char const* getPluginName() const noexcept override
    {
        return Plugin::kName;
    }
    char const* getPluginVersion() const noexcept override
    {
        return kPluginVersion;
    }
    char const* getPluginNamespace() const noexcept override
    {
        return kPluginNamespace;
    }

private:
    static FieldNames const& names()
    {
        static FieldNames const instance(Plugin::fieldSpecs());
        return instance;
    }
};
} // namespace edgeattn::plugins
