// Labelled image sets read from MNIST-format IDX files or CIFAR-10 binary batches.
// Pixels stay bytes in memory (CHW per sample) and become floats x/255 per batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnrt_tool {

struct Dataset {
    int64_t count = 0;
    int channels = 0, height = 0, width = 0;
    std::vector<uint8_t> pixels;   // count * sampleSize(), CHW per sample
    std::vector<int32_t> labels;   // count (empty for an unlabelled image file)

    int64_t sampleSize() const { return int64_t(channels) * height * width; }
    std::string dimsStr() const;
    // Writes samples order[0..n) as floats x/255 into input, and their labels.
    void gather(const int64_t *order, int n, float *input, int32_t *labelsOut) const;
};

struct Split {
    Dataset train, test;
    std::string format;  // "mnist" or "cifar10"
};

// format: "mnist", "cifar10", or "" to detect from the files in dir.
Split loadSplit(const std::string &dir, const std::string &format);

// IDX files: unsigned bytes, images [n, h, w] (one channel) or [n, c, h, w]; labels [n].
Dataset readIdxImages(const std::string &path);
std::vector<int32_t> readIdxLabels(const std::string &path);

// Whole file as bytes; throws with the path on failure. Refuses files over maxBytes.
std::vector<uint8_t> readFile(const std::string &path, uint64_t maxBytes = uint64_t(1) << 32);
bool fileExists(const std::string &path);

}  // namespace cnnrt_tool
