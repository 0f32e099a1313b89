// cnnrt: IDX (MNIST) file readers.
#include "runtime/Data.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/Internal.h"

namespace cnnrt {
namespace {

struct File {
    FILE *f = nullptr;
    ~File() {
        if (f) std::fclose(f);
    }
};

struct Malloced {
    void *p = nullptr;
    ~Malloced() { std::free(p); }
};

// Opens path, checks the magic and returns the dimension sizes; leaves f at the data.
std::vector<uint32_t> read_idx_header(File &file, const std::string &path, uint32_t magic,
                                      int ndims, uint64_t &data_bytes) {
    file.f = std::fopen(path.c_str(), "rb");
    if (!file.f) throw Error("cannot open '" + path + "': " + std::strerror(errno));
    struct stat st;
    if (fstat(fileno(file.f), &st) != 0 || !S_ISREG(st.st_mode))
        throw Error("'" + path + "' is not a regular file");
    const uint64_t size = uint64_t(st.st_size);
    const uint64_t header = 4 + 4 * uint64_t(ndims);
    unsigned char buf[16];
    if (size < 4 || std::fread(buf, 1, 4, file.f) != 4)
        throw Error("'" + path + "' is truncated: too short for an IDX header");
    uint32_t got = uint32_t(buf[0]) << 24 | uint32_t(buf[1]) << 16 | uint32_t(buf[2]) << 8 | buf[3];
    if (got != magic) {
        char msg[96];
        std::snprintf(msg, sizeof msg, "bad magic 0x%08x, expected 0x%08x", unsigned(got),
                      unsigned(magic));
        throw Error("'" + path + "' is not an IDX " + (ndims == 3 ? "image" : "label") +
                    " file: " + msg);
    }
    if (size < header || std::fread(buf + 4, 1, size_t(header - 4), file.f) != header - 4)
        throw Error("'" + path + "' is truncated: too short for an IDX header");
    std::vector<uint32_t> dims;
    uint64_t n = 1;
    for (int i = 0; i < ndims; ++i) {
        const unsigned char *b = buf + 4 + 4 * i;
        uint32_t v = uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
        if (v > uint32_t(INT_MAX)) throw Error("'" + path + "' has an absurd dimension");
        dims.push_back(v);
        n *= v;  // <= (2^31)^3 < 2^94 could overflow; bounded below
        if (n > (uint64_t(1) << 40)) throw Error("'" + path + "' has absurd dimensions");
    }
    if (n > uint64_t(INT_MAX) && ndims == 1) throw Error("'" + path + "' has absurd dimensions");
    if (size - header < n)
        throw Error("'" + path + "' is truncated: header promises " + std::to_string(n) +
                    " bytes of data, file has " + std::to_string(size - header));
    if (size - header > n)
        throw Error("'" + path + "' has " + std::to_string(size - header - n) +
                    " unexpected trailing bytes");
    data_bytes = n;
    return dims;
}

void read_bytes(File &file, const std::string &path, unsigned char *dst, uint64_t n) {
    if (n && std::fread(dst, 1, size_t(n), file.f) != n)
        throw Error("'" + path + "' is truncated");
}

}  // namespace
}  // namespace cnnrt

using namespace cnnrt;

extern "C" {

int cnnrt_read_idx_images(const char *path, float **images, int *count, int *rows, int *cols) {
    return guarded([&] {
        if (!path) throw Error("path is NULL");
        if (!images) throw Error("images is NULL");
        if (!count) throw Error("count is NULL");
        File file;
        uint64_t n = 0;
        std::vector<uint32_t> dims = read_idx_header(file, path, 0x00000803u, 3, n);
        if (n > SIZE_MAX / sizeof(float)) throw Error("'" + std::string(path) + "' is too large");
        std::vector<unsigned char> bytes{};
        bytes.resize(size_t(n));
        read_bytes(file, path, bytes.data(), n);
        Malloced out;
        out.p = std::malloc(n ? size_t(n) * sizeof(float) : 1);
        if (!out.p) throw std::bad_alloc();
        float *f = static_cast<float *>(out.p);
        for (size_t i = 0; i < bytes.size(); ++i) f[i] = float(bytes[i]) / 255.0f;
        *images = f;
        out.p = nullptr;
        *count = int(dims[0]);
        if (rows) *rows = int(dims[1]);
        if (cols) *cols = int(dims[2]);
    });
}

int cnnrt_read_idx_labels(const char *path, int **labels, int *count) {
    return guarded([&] {
        if (!path) throw Error("path is NULL");
        if (!labels) throw Error("labels is NULL");
        if (!count) throw Error("count is NULL");
        File file;
        uint64_t n = 0;
        std::vector<uint32_t> dims = read_idx_header(file, path, 0x00000801u, 1, n);
        std::vector<unsigned char> bytes{};
        bytes.resize(size_t(n));
        read_bytes(file, path, bytes.data(), n);
        Malloced out;
        out.p = std::malloc(n ? size_t(n) * sizeof(int) : 1);
        if (!out.p) throw std::bad_alloc();
        int *l = static_cast<int *>(out.p);
        for (size_t i = 0; i < bytes.size(); ++i) l[i] = bytes[i];
        *labels = l;
        out.p = nullptr;
        *count = int(dims[0]);
    });
}

void cnnrt_free(void *p) { std::free(p); }

}  // extern "C"
