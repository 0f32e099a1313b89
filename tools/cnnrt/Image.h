// Single images for `cnnrt predict`: PGM/PPM (P2, P5, P3, P6), PNG, or "file.idx:K".
#pragma once

#include <string>
#include <vector>

namespace cnnrt_tool {

struct Image {
    int channels = 0, height = 0, width = 0;
    std::vector<float> data;  // CHW, values in [0, 1]
};

// Reads SPEC: "path.idx:K" (the K-th image, from 0, of an IDX image file) or an
// image file recognised by its contents (PNG signature, P2/P3/P5/P6 header).
// Greyscale images have one channel, colour ones three (PNG alpha is dropped).
Image loadImage(const std::string &spec);

// Throws a clear error (naming spec and model) unless img has the model's
// input shape: `channels` x `height` x `width`, no resizing done.
void checkImageFits(const Image &img, const std::string &spec, const std::string &model, int channels, int height,
                    int width);

}  // namespace cnnrt_tool
