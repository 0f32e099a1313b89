#include "tools/cnnrt/Image.h"

#include <png.h>

#include <cctype>
#include <cstring>
#include <stdexcept>

#include "tools/cnnrt/Dataset.h"

namespace cnnrt_tool {

using std::runtime_error;
using std::string;

namespace {

// A netpbm header/ASCII reader over the file's bytes.
struct PnmReader {
    const std::vector<uint8_t> &d;
    const string &path;
    size_t pos = 2;

    void skipSpace() {
        while (pos < d.size()) {
            if (d[pos] == '#') {
                while (pos < d.size() && d[pos] != '\n') ++pos;
            } else if (std::isspace(d[pos])) {
                ++pos;
            } else {
                break;
            }
        }
    }
    long number(const char *what, long maxValue) {
        skipSpace();
        if (pos >= d.size() || !std::isdigit(d[pos])) throw runtime_error(path + ": bad or truncated image (" + what + ")");
        long v = 0;
        while (pos < d.size() && std::isdigit(d[pos])) {
            v = v * 10 + (d[pos++] - '0');
            if (v > maxValue) throw runtime_error(path + ": " + what + " out of range");
        }
        return v;
    }
};

Image readPnm(const string &path, const std::vector<uint8_t> &d) {
    char kind = char(d[1]);
    bool ascii = kind == '2' || kind == '3';
    Image img;
    img.channels = (kind == '3' || kind == '6') ? 3 : 1;
    PnmReader r{d, path};
    img.width = int(r.number("width", 1 << 16));
    img.height = int(r.number("height", 1 << 16));
    long maxval = r.number("maxval", 65535);
    if (img.width == 0 || img.height == 0 || maxval == 0) throw runtime_error(path + ": empty image or zero maxval");
    size_t n = size_t(img.channels) * img.height * img.width;
    std::vector<float> hwc(n);
    if (ascii) {
        for (size_t i = 0; i < n; ++i) {
            long v = r.number("pixel", 65535);
            if (v > maxval) throw runtime_error(path + ": pixel value exceeds maxval");
            hwc[i] = float(v) / float(maxval);
        }
    } else {
        if (r.pos >= d.size() || !std::isspace(d[r.pos])) throw runtime_error(path + ": bad image header");
        ++r.pos;  // exactly one whitespace byte before the raster
        size_t bytes = maxval > 255 ? 2 : 1;
        if (d.size() - r.pos < n * bytes)
            throw runtime_error(path + ": truncated image (" + std::to_string(d.size() - r.pos) + " raster bytes, need " +
                                std::to_string(n * bytes) + ")");
        const uint8_t *p = d.data() + r.pos;
        for (size_t i = 0; i < n; ++i) {
            long v = bytes == 2 ? (long(p[2 * i]) << 8 | p[2 * i + 1]) : p[i];
            if (v > maxval) throw runtime_error(path + ": pixel value exceeds maxval");
            hwc[i] = float(v) / float(maxval);
        }
    }
    img.data.resize(n);
    for (int c = 0; c < img.channels; ++c)
        for (size_t i = 0; i < size_t(img.height) * img.width; ++i)
            img.data[size_t(c) * img.height * img.width + i] = hwc[i * img.channels + c];
    return img;
}

Image readPng(const string &path, const std::vector<uint8_t> &d) {
    png_image png;
    std::memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&png, d.data(), d.size()))
        throw runtime_error(path + ": bad PNG: " + png.message);
    Image img;
    img.channels = (png.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    img.width = int(png.width);
    img.height = int(png.height);
    if (png.width == 0 || png.height == 0 || png.width > (1u << 16) || png.height > (1u << 16)) {
        png_image_free(&png);
        throw runtime_error(path + ": implausible PNG size");
    }
    png.format = img.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;  // alpha composited over black
    std::vector<uint8_t> buf(PNG_IMAGE_SIZE(png));
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&png, &black, buf.data(), 0, nullptr)) {
        string msg = png.message;
        png_image_free(&png);
        throw runtime_error(path + ": bad PNG: " + msg);
    }
    size_t hw = size_t(img.height) * img.width;
    img.data.resize(hw * img.channels);
    for (int c = 0; c < img.channels; ++c)
        for (size_t i = 0; i < hw; ++i) img.data[c * hw + i] = float(buf[i * img.channels + c]) / 255.0f;
    return img;
}

}  // namespace

Image loadImage(const string &spec) {
    size_t colon = spec.rfind(':');
    if (colon != string::npos && colon + 1 < spec.size() &&
        spec.find_first_not_of("0123456789", colon + 1) == string::npos && !fileExists(spec)) {
        string path = spec.substr(0, colon);
        string k = spec.substr(colon + 1);
        if (k.size() > 12) throw runtime_error(spec + ": image index out of range");
        long long index = std::stoll(k);
        Dataset ds = readIdxImages(path);
        if (index >= ds.count)
            throw runtime_error(spec + ": index " + k + " out of range (" + path + " holds " + std::to_string(ds.count) +
                                " images)");
        Image img;
        img.channels = ds.channels, img.height = ds.height, img.width = ds.width;
        int64_t order = index;
        img.data.resize(size_t(ds.sampleSize()));
        ds.gather(&order, 1, img.data.data(), nullptr);
        return img;
    }
    std::vector<uint8_t> d = readFile(spec, uint64_t(1) << 28);
    static const uint8_t pngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (d.size() >= 8 && std::memcmp(d.data(), pngSig, 8) == 0) return readPng(spec, d);
    if (d.size() >= 2 && d[0] == 'P' && (d[1] == '2' || d[1] == '3' || d[1] == '5' || d[1] == '6'))
        return readPnm(spec, d);
    throw runtime_error(spec + ": unsupported image format (expected PGM/PPM, PNG, or FILE.idx:K)");
}

void checkImageFits(const Image &img, const string &spec, const string &model, int channels, int height, int width) {
    if (img.channels != channels)
        throw runtime_error(spec + ": " + (img.channels == 1 ? "greyscale" : "colour") + " image, but model '" + model +
                            "' takes " + std::to_string(channels) + " channel(s)");
    if (img.height != height || img.width != width)
        throw runtime_error(spec + ": image is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                            " (WxH), model '" + model + "' takes " + std::to_string(width) + "x" +
                            std::to_string(height) + " (no resizing is done)");
}

}  // namespace cnnrt_tool
