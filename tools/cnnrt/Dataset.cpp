#include "tools/cnnrt/Dataset.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace cnnrt_tool {

using std::runtime_error;
using std::string;

std::string Dataset::dimsStr() const {
    return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
}

void Dataset::gather(const int64_t *order, int n, float *input, int32_t *labelsOut) const {
    const int64_t s = sampleSize();
    for (int i = 0; i < n; ++i) {
        const uint8_t *src = pixels.data() + order[i] * s;
        float *dst = input + int64_t(i) * s;
        for (int64_t j = 0; j < s; ++j) dst[j] = float(src[j]) / 255.0f;
        if (labelsOut) labelsOut[i] = labels[size_t(order[i])];
    }
}

bool fileExists(const string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<uint8_t> readFile(const string &path, uint64_t maxBytes) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) throw runtime_error(path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw runtime_error(path + ": not a regular file");
    if (uint64_t(st.st_size) > maxBytes) throw runtime_error(path + ": file too large");
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) throw runtime_error(path + ": " + std::strerror(errno));
    std::vector<uint8_t> data(size_t(st.st_size));
    size_t got = data.empty() ? 0 : std::fread(data.data(), 1, data.size(), f);
    bool err = std::ferror(f);
    std::fclose(f);
    if (err || got != data.size()) throw runtime_error(path + ": read error");
    return data;
}

namespace {

uint32_t be32(const uint8_t *p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// Parses an IDX header of unsigned bytes; returns the dims and checks the exact file size.
std::vector<int64_t> idxDims(const string &path, const std::vector<uint8_t> &d, int minDims, int maxDims) {
    if (d.size() < 4) throw runtime_error(path + ": not an IDX file (too short)");
    if (d[0] != 0 || d[1] != 0) throw runtime_error(path + ": not an IDX file (bad magic number)");
    if (d[2] != 0x08) throw runtime_error(path + ": IDX data type must be unsigned byte (0x08)");
    int nd = d[3];
    if (nd < minDims || nd > maxDims)
        throw runtime_error(path + ": IDX file has " + std::to_string(nd) + " dimensions, expected " +
                            (minDims == maxDims ? std::to_string(minDims)
                                                : std::to_string(minDims) + " to " + std::to_string(maxDims)));
    size_t header = 4 + 4 * size_t(nd);
    if (d.size() < header) throw runtime_error(path + ": truncated IDX header");
    std::vector<int64_t> dims;
    uint64_t total = 1;
    for (int i = 0; i < nd; ++i) {
        uint32_t v = be32(d.data() + 4 + 4 * i);
        if (v > 0x7fffffffu) throw runtime_error(path + ": implausible IDX dimension");
        dims.push_back(v);
        total *= v;
        if (total > (uint64_t(1) << 34)) throw runtime_error(path + ": implausible IDX size");
    }
    if (d.size() - header < total)
        throw runtime_error(path + ": truncated: header promises " + std::to_string(total) + " data bytes, file has " +
                            std::to_string(d.size() - header));
    if (d.size() - header > total)
        throw runtime_error(path + ": " + std::to_string(d.size() - header - total) +
                            " unexpected bytes after the data");
    return dims;
}

}  // namespace

Dataset readIdxImages(const string &path) {
    std::vector<uint8_t> d = readFile(path);
    std::vector<int64_t> dims = idxDims(path, d, 3, 4);
    Dataset ds;
    ds.count = dims[0];
    ds.channels = dims.size() == 4 ? int(dims[1]) : 1;
    ds.height = int(dims[dims.size() - 2]);
    ds.width = int(dims[dims.size() - 1]);
    if (ds.count == 0 || ds.sampleSize() == 0) throw runtime_error(path + ": IDX file holds no images");
    ds.pixels.assign(d.begin() + 4 + 4 * long(dims.size()), d.end());
    return ds;
}

std::vector<int32_t> readIdxLabels(const string &path) {
    std::vector<uint8_t> d = readFile(path);
    idxDims(path, d, 1, 1);
    return std::vector<int32_t>(d.begin() + 8, d.end());
}

namespace {

Dataset loadMnistPart(const string &dir, const string &prefix) {
    string img = dir + "/" + prefix + "-images-idx3-ubyte", lab = dir + "/" + prefix + "-labels-idx1-ubyte";
    Dataset ds = readIdxImages(img);
    ds.labels = readIdxLabels(lab);
    if (int64_t(ds.labels.size()) != ds.count)
        throw runtime_error(lab + ": " + std::to_string(ds.labels.size()) + " labels for " + std::to_string(ds.count) +
                            " images in " + img);
    return ds;
}

void appendCifar(const string &path, Dataset &ds) {
    const size_t rec = 1 + 3072;
    std::vector<uint8_t> d = readFile(path);
    if (d.empty() || d.size() % rec != 0)
        throw runtime_error(path + ": not a CIFAR-10 batch (size " + std::to_string(d.size()) +
                            " is not a positive multiple of 3073)");
    for (size_t off = 0; off < d.size(); off += rec) {
        if (d[off] > 9)
            throw runtime_error(path + ": record " + std::to_string(off / rec) + " has label " +
                                std::to_string(d[off]) + " (CIFAR-10 labels are 0-9)");
        ds.labels.push_back(d[off]);
        ds.pixels.insert(ds.pixels.end(), d.begin() + long(off) + 1, d.begin() + long(off + rec));
    }
    ds.count = int64_t(ds.labels.size());
}

Split loadCifar(const string &dir) {
    Split s;
    s.format = "cifar10";
    for (Dataset *ds : {&s.train, &s.test}) ds->channels = 3, ds->height = 32, ds->width = 32;
    if (!fileExists(dir + "/data_batch_1.bin")) throw runtime_error(dir + "/data_batch_1.bin: no such file");
    for (int i = 1; i <= 5 && fileExists(dir + "/data_batch_" + std::to_string(i) + ".bin"); ++i)
        appendCifar(dir + "/data_batch_" + std::to_string(i) + ".bin", s.train);
    appendCifar(dir + "/test_batch.bin", s.test);
    return s;
}

}  // namespace

Split loadSplit(const string &dir, const string &formatIn) {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw runtime_error("data directory " + dir + " not found");
    string format = formatIn;
    if (format.empty()) {
        if (fileExists(dir + "/train-images-idx3-ubyte")) format = "mnist";
        else if (fileExists(dir + "/data_batch_1.bin")) format = "cifar10";
        else
            throw runtime_error(dir + ": no train-images-idx3-ubyte (MNIST) or data_batch_1.bin (CIFAR-10) found");
    }
    if (format == "cifar10") return loadCifar(dir);
    if (format != "mnist") throw runtime_error("unknown data format '" + format + "' (use mnist or cifar10)");
    Split s;
    s.format = "mnist";
    s.train = loadMnistPart(dir, "train");
    s.test = loadMnistPart(dir, "t10k");
    if (s.train.channels != s.test.channels || s.train.height != s.test.height || s.train.width != s.test.width)
        throw runtime_error(dir + ": training images are " + s.train.dimsStr() + " but test images are " +
                            s.test.dimsStr());
    return s;
}

}  // namespace cnnrt_tool
