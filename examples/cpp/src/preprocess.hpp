// The manifest's image preprocessing, bit-exact with edgeattn.runtime (Pillow's resampling + timm's eval crop).
//
// 1. resize the shorter side to floor(resolution / crop_pct) (longer side: truncated aspect ratio) with
//    Pillow's separable 8-bit fixed-point filters (bilinear, bicubic, box, hamming, lanczos; antialiased
//    when shrinking; pass order as Pillow 13 chooses it) or its nearest-neighbour mapping;
// 2. centre-crop resolution x resolution (offsets rounded half to even);
// 3. x / 255, minus mean, divided by std, in float32; HWC -> CHW.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace edgeattn {

struct Preprocessing {
    int resolution{0};
    std::string interpolation;
    double cropPct{0.875};
    float mean[3]{0.f, 0.f, 0.f};
    float std[3]{1.f, 1.f, 1.f};
    std::string color{"RGB"}; //!< channel order the model expects
};

//! An 8-bit interleaved image (HWC) with 3 channels in RGB order.
struct Image {
    int width{0};
    int height{0};
    std::vector<uint8_t> pixels;
};

//! false (with `error`) for values the runtime refuses too.
bool validate(Preprocessing const& prep, std::string& error);

//! Pillow-exact resize of an RGB image to width x height with the named filter.
bool resize(Image const& in, int width, int height, std::string const& interpolation, Image& out,
    std::string& error);

//! The whole pipeline: `chw` receives 3 * resolution * resolution floats.
bool preprocess(Image const& rgb, Preprocessing const& prep, std::vector<float>& chw, std::string& error);

//! Read a binary PPM (P6, RGB) or PGM (P5, grey: replicated to RGB) file with maxval 255.
bool readNetpbm(std::string const& path, Image& out, std::string& error);

} // namespace edgeattn
