// Writing 8-bit PNG files (libpng), for `cnnrt visualize`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnrt_tool {

// A picture being drawn: `channels` (1: grey, 3: RGB) bytes per pixel, rows top first.
struct Canvas {
    int width = 0, height = 0, channels = 1;
    std::vector<uint8_t> pixels;

    Canvas(int w, int h, int c, uint8_t fill) : width(w), height(h), channels(c),
        pixels(size_t(w) * size_t(h) * size_t(c), fill) {}
    uint8_t *at(int x, int y) { return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * size_t(channels); }
};

// Writes the canvas; throws std::runtime_error naming the path on failure.
void writePng(const std::string &path, const Canvas &canvas);

}  // namespace cnnrt_tool
