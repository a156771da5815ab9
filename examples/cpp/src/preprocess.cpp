#include "preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

namespace edgeattn {
namespace {

constexpr int kChannels = 3;
constexpr int kPrecisionBits = 32 - 8 - 2; // Pillow's fixed-point precision for 8-bit images
constexpr double kPi = 3.14159265358979323846;

struct Filter {
    char const* name;
    double support;
    double (*weight)(double);
};

double bilinearWeight(double x)
{
    x = std::fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubicWeight(double x)
{
    double const a = -0.5;
    x = std::fabs(x);
    if (x < 1.0)
    {
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    }
    if (x < 2.0)
    {
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    }
    return 0.0;
}

double boxWeight(double x)
{
    return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

double hammingWeight(double x)
{
    x = std::fabs(x);
    if (x == 0.0)
    {
        return 1.0;
    }
    if (x >= 1.0)
    {
        return 0.0;
    }
    x *= kPi;
    return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
}

double sinc(double x)
{
    if (x == 0.0)
    {
        return 1.0;
    }
    x *= kPi;
    return std::sin(x) / x;
}

double lanczosWeight(double x)
{
    return (x >= -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0;
}

Filter const kFilters[] = {
    {"bilinear", 1.0, bilinearWeight},
    {"bicubic", 2.0, bicubicWeight},
    {"box", 0.5, boxWeight},
    {"hamming", 1.0, hammingWeight},
    {"lanczos", 3.0, lanczosWeight},
};

Filter const* findFilter(std::string const& name)
{
    for (Filter const& filter : kFilters)
    {
        if (name == filter.name)
        {
            return &filter;
        }
    }
    return nullptr;
}

//! Per output pixel: first input pixel, number of taps, and fixed-point weights (ksize per pixel).
struct Taps {
    int ksize{0};
    std::vector<int> first;
    std::vector<int> count;
    std::vector<int32_t> weights;
};

Taps computeTaps(int inSize, int outSize, Filter const& filter)
{
    double const scale = static_cast<double>(inSize) / outSize;
    double const filterScale = std::max(scale, 1.0);
    double const support = filter.support * filterScale;
    double const inverse = 1.0 / filterScale;
    Taps taps;
    taps.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    taps.first.resize(outSize);
    taps.count.resize(outSize);
    taps.weights.assign(static_cast<size_t>(outSize) * taps.ksize, 0);
    std::vector<double> w(taps.ksize);
    for (int o = 0; o < outSize; ++o)
    {
        double const center = (o + 0.5) * scale;
        int const lo = std::max(static_cast<int>(center - support + 0.5), 0);
        int const hi = std::min(static_cast<int>(center + support + 0.5), inSize);
        int const n = hi - lo;
        double total = 0.0;
        for (int k = 0; k < n; ++k)
        {
            w[k] = filter.weight((k + lo - center + 0.5) * inverse);
            total += w[k];
        }
        for (int k = 0; k < n; ++k)
        {
            double const v = total != 0.0 ? w[k] / total : w[k];
            double const fixed = v * (1 << kPrecisionBits);
            taps.weights[static_cast<size_t>(o) * taps.ksize + k] = static_cast<int32_t>(v < 0 ? fixed - 0.5 : fixed + 0.5);
        }
        taps.first[o] = lo;
        taps.count[o] = n;
    }
    return taps;
}

uint8_t clip8(int64_t accumulator)
{
    int64_t const v = accumulator >> kPrecisionBits;
    return static_cast<uint8_t>(std::min<int64_t>(std::max<int64_t>(v, 0), 255));
}

//! One pass along x (`horizontal`) or y, rows [rowBegin, rowEnd) of the input for the horizontal pass.
Image pass(Image const& in, Taps const& taps, bool horizontal, int rowBegin, int rowEnd, int outSize)
{
    Image out;
    out.width = horizontal ? outSize : in.width;
    out.height = horizontal ? rowEnd - rowBegin : outSize;
    out.pixels.resize(static_cast<size_t>(out.width) * out.height * kChannels);
    for (int y = 0; y < out.height; ++y)
    {
        for (int x = 0; x < out.width; ++x)
        {
            int const o = horizontal ? x : y;
            int32_t const* k = &taps.weights[static_cast<size_t>(o) * taps.ksize];
            for (int c = 0; c < kChannels; ++c)
            {
                int64_t acc = int64_t{1} << (kPrecisionBits - 1);
                for (int t = 0; t < taps.count[o]; ++t)
                {
                    int const sx = horizontal ? taps.first[o] + t : x;
                    int const sy = horizontal ? y + rowBegin : taps.first[o] + t;
                    acc += static_cast<int64_t>(in.pixels[(static_cast<size_t>(sy) * in.width + sx) * kChannels + c]) * k[t];
                }
                out.pixels[(static_cast<size_t>(y) * out.width + x) * kChannels + c] = clip8(acc);
            }
        }
    }
    return out;
}

//! Source index of every output pixel for Pillow's nearest-neighbour scaling: pixel centres stepped
//! by in/out from (in/out) / 2, accumulated as Pillow accumulates them.
std::vector<int> nearestIndex(int inSize, int outSize)
{
    double const step = static_cast<double>(inSize) / outSize;
    std::vector<int> index(outSize);
    double position = step * 0.5;
    for (int o = 0; o < outSize; ++o, position += step)
    {
        index[o] = std::min(static_cast<int>(position), inSize - 1);
    }
    return index;
}

Image nearest(Image const& in, int width, int height)
{
    Image out;
    out.width = width;
    out.height = height;
    out.pixels.resize(static_cast<size_t>(width) * height * kChannels);
    std::vector<int> const columns = nearestIndex(in.width, width);
    std::vector<int> const rows = nearestIndex(in.height, height);
    for (int y = 0; y < height; ++y)
    {
        int const row = rows[y];
        for (int x = 0; x < width; ++x)
        {
            std::copy_n(&in.pixels[(static_cast<size_t>(row) * in.width + columns[x]) * kChannels], kChannels,
                &out.pixels[(static_cast<size_t>(y) * width + x) * kChannels]);
        }
    }
    return out;
}

//! Pillow (13+) runs the vertical pass first when the height shrinks by more than twice the width's
//! shrink (in pixels); earlier Pillow always starts with the horizontal pass. The order changes the 8-bit
//! intermediate, so it matters for bit-exactness (for aspect-preserving resizes: frames over 2:1 tall).
bool verticalFirst(Image const& in, int width, int height)
{
    return height < in.height && (in.height - height) > 2 * (in.width - width);
}

} // namespace

bool validate(Preprocessing const& prep, std::string& error)
{
    if (prep.resolution < 1)
    {
        error = "preprocessing resolution must be positive";
    }
    else if (!(prep.cropPct > 0.0 && prep.cropPct <= 1.0))
    {
        error = "preprocessing crop_pct must be in (0, 1]";
    }
    else if (prep.interpolation != "nearest" && findFilter(prep.interpolation) == nullptr)
    {
        error = "unsupported interpolation '" + prep.interpolation + "'";
    }
    else if (prep.color != "RGB" && prep.color != "BGR")
    {
        error = "preprocessing color must be RGB or BGR";
    }
    else if (prep.std[0] <= 0.f || prep.std[1] <= 0.f || prep.std[2] <= 0.f)
    {
        error = "preprocessing std must be positive";
    }
    else
    {
        return true;
    }
    return false;
}

bool resize(Image const& in, int width, int height, std::string const& interpolation, Image& out, std::string& error)
{
    if (in.width < 1 || in.height < 1 || width < 1 || height < 1
        || in.pixels.size() != static_cast<size_t>(in.width) * in.height * kChannels)
    {
        error = "resize: empty image or size mismatch";
        return false;
    }
    if (interpolation == "nearest")
    {
        out = (width == in.width && height == in.height) ? in : nearest(in, width, height);
        return true;
    }
    Filter const* filter = findFilter(interpolation);
    if (filter == nullptr)
    {
        error = "unsupported interpolation '" + interpolation + "'";
        return false;
    }
    Taps const horizontal = computeTaps(in.width, width, *filter);
    Taps vertical = computeTaps(in.height, height, *filter);
    Image current = in;
    if (verticalFirst(in, width, height))
    {
        if (height != in.height)
        {
            current = pass(current, vertical, false, 0, 0, height);
        }
        if (width != in.width)
        {
            current = pass(current, horizontal, true, 0, current.height, width);
        }
    }
    else
    {
        if (width != in.width)
        {
            // Only the rows the vertical pass reads, as Pillow does.
            int const rowBegin = vertical.first.front();
            int const rowEnd = vertical.first.back() + vertical.count.back();
            current = pass(in, horizontal, true, rowBegin, rowEnd, width);
            for (int& first : vertical.first)
            {
                first -= rowBegin;
            }
        }
        if (height != in.height)
        {
            current = pass(current, vertical, false, 0, 0, height);
        }
    }
    out = std::move(current);
    return true;
}

bool preprocess(Image const& rgb, Preprocessing const& prep, std::vector<float>& chw, std::string& error)
{
    if (!validate(prep, error))
    {
        return false;
    }
    int const scale = static_cast<int>(std::floor(prep.resolution / prep.cropPct));
    bool const wide = rgb.width > rgb.height;
    int const shortSide = wide ? rgb.height : rgb.width;
    int const longSide = wide ? rgb.width : rgb.height;
    int const newLong = static_cast<int>(static_cast<double>(static_cast<int64_t>(scale) * longSide) / shortSide);
    int const width = wide ? newLong : scale;
    int const height = wide ? scale : newLong;
    Image resized;
    if (width == rgb.width && height == rgb.height)
    {
        resized = rgb;
    }
    else if (!resize(rgb, width, height, prep.interpolation, resized, error))
    {
        return false;
    }
    int const size = prep.resolution;
    int const top = static_cast<int>(std::nearbyint((height - size) / 2.0));
    int const left = static_cast<int>(std::nearbyint((width - size) / 2.0));
    bool const flip = prep.color == "BGR";
    chw.assign(static_cast<size_t>(kChannels) * size * size, 0.f);
    for (int c = 0; c < kChannels; ++c)
    {
        int const source = flip ? kChannels - 1 - c : c;
        for (int y = 0; y < size; ++y)
        {
            for (int x = 0; x < size; ++x)
            {
                uint8_t const v = resized.pixels[(static_cast<size_t>(y + top) * width + x + left) * kChannels + source];
                chw[(static_cast<size_t>(c) * size + y) * size + x] = (static_cast<float>(v) / 255.0f - prep.mean[c]) / prep.std[c];
            }
        }
    }
    return true;
}

bool readNetpbm(std::string const& path, Image& out, std::string& error)
{
    std::ifstream file(path, std::ios::binary);
    std::string magic;
    int width = 0;
    int height = 0;
    int maxval = 0;
    if (!(file >> magic) || (magic != "P6" && magic != "P5"))
    {
        error = path + ": not a binary PPM (P6) or PGM (P5) file";
        return false;
    }
    auto field = [&file](int& value) {
        file >> std::ws;
        while (file.peek() == '#')
        {
            file.ignore(1 << 20, '\n');
            file >> std::ws;
        }
        return static_cast<bool>(file >> value);
    };
    if (!field(width) || !field(height) || !field(maxval) || width < 1 || height < 1 || maxval != 255)
    {
        error = path + ": bad header (need width, height and maxval 255)";
        return false;
    }
    file.get(); // the single whitespace byte before the pixels
    int const channels = magic == "P6" ? 3 : 1;
    std::vector<uint8_t> raw(static_cast<size_t>(width) * height * channels);
    if (!file.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size())))
    {
        error = path + ": truncated pixel data";
        return false;
    }
    out.width = width;
    out.height = height;
    out.pixels.resize(static_cast<size_t>(width) * height * kChannels);
    for (size_t i = 0; i < static_cast<size_t>(width) * height; ++i)
    {
        for (int c = 0; c < kChannels; ++c)
        {
            out.pixels[i * kChannels + c] = raw[i * channels + (channels == 3 ? c : 0)];
        }
    }
    return true;
}

} // namespace edgeattn
