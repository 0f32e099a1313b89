// Test support for cnnc's op and end-to-end tests: run the cnnc binary, compile
// a .cnn source into a shared library, dlopen it and drive its C API, write
// safetensors files (an independent minimal writer, not the runtime's code).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace cnnc_test {

// ---- processes -------------------------------------------------------------

struct ProcResult {
    int status = -1;  // exit status; 128+signal if killed by a signal
    std::string out, err;
};

// Runs argv[0] (a path) with the arguments, capturing stdout and stderr.
ProcResult runProcess(const std::vector<std::string> &argv, const std::string &stdinText = "");
// Runs the cnnc binary under test.
ProcResult runCnnc(const std::vector<std::string> &args, const std::string &stdinText = "");

std::string cnncBinary();  // $CNNC_TEST_CNNC, else CNNC_BIN (the build's cnnc)
std::string cacheDir();    // $CNNC_TEST_CACHE, else the test build's shared kernel cache
std::string sourceDir();   // repository root
std::string readFile(const std::string &path);
void writeFile(const std::string &path, const std::string &text);

// A fresh directory under $TMPDIR, removed (recursively) on destruction unless
// CNNC_TEST_KEEP is set in the environment.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::string &path() const { return path_; }
    std::string file(const std::string &name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// ---- safetensors -----------------------------------------------------------

struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> data;
    // Overrides for broken files: the header's dtype, and raw bytes instead of data.
    std::string dtype = "F32";
    bool useRaw = false;
    std::string raw;
    int64_t numel() const;
};
using TensorMap = std::map<std::string, Tensor>;

// A minimal safetensors writer: 8-byte little-endian header length, JSON header
// (padded with spaces to a multiple of 8), then the tensors back to back in
// name order.
std::string safetensorsBytes(const TensorMap &tensors);
void writeSafetensors(const std::string &path, const TensorMap &tensors);

// ---- random data -----------------------------------------------------------

std::vector<float> randomNormal(size_t n, uint32_t seed, float mean = 0.0f, float stddev = 1.0f);
std::vector<float> randomUniform(size_t n, uint32_t seed, float lo, float hi);

// ---- compiled models -------------------------------------------------------

// The exported C API of one compiled network, as plain function pointers.
struct ModelApi {
    void *(*create)(void) = nullptr;
    void (*destroy)(void *) = nullptr;
    const char *(*last_error)(void) = nullptr;
    int (*input_dims)(int *) = nullptr;
    int (*output_size)(void) = nullptr;
    int (*load_weights)(void *, const char *) = nullptr;
    int (*save_weights)(const void *, const char *) = nullptr;
    int (*infer)(void *, const float *, int, float *) = nullptr;
};

class CompiledModel {
public:
    CompiledModel() = default;
    CompiledModel(CompiledModel &&) noexcept;
    CompiledModel &operator=(CompiledModel &&) noexcept;
    ~CompiledModel();

    // Did cnnc succeed, the library load and every symbol resolve, and create()
    // return a model? If not, error() says why (with cnnc's stderr).
    bool ok() const { return ok_; }
    const std::string &error() const { return error_; }
    const ProcResult &compile() const { return compile_; }
    const std::string &soPath() const { return soPath_; }
    const std::string &name() const { return name_; }

    const ModelApi &api() const { return api_; }
    void *model() const { return model_; }  // the default instance

    std::array<int, 3> inputDims() const;
    int inputSize() const;  // C*H*W
    int outputSize() const;
    std::string lastError() const;

    // Runs the default instance (or `instance`); on failure returns an empty
    // vector and records a gtest failure with last_error().
    std::vector<float> infer(const std::vector<float> &input, int batch, void *instance = nullptr) const;
    // Writes `tensors` to a temporary safetensors file and loads it; returns
    // load_weights' status (0 = ok).
    int setWeights(const TensorMap &tensors, void *instance = nullptr) const;
    int loadWeights(const std::string &path, void *instance = nullptr) const;
    int saveWeights(const std::string &path, void *instance = nullptr) const;

    // A second, independent instance (caller destroys it via api().destroy).
    void *createInstance() const { return api_.create(); }

private:
    friend CompiledModel compileFile(const std::string &, const std::string &, const std::vector<std::string> &);
    friend CompiledModel compileModel(const std::string &, const std::string &, const std::vector<std::string> &);
    void reset();

    bool ok_ = false;
    std::string error_, soPath_, name_;
    ProcResult compile_;
    std::unique_ptr<TempDir> dir_, srcDir_;
    void *handle_ = nullptr;
    void *model_ = nullptr;
    ModelApi api_;
};

// Writes `source` to a temporary file, compiles it with cnnc (-q and the test
// build's kernel cache, plus extraFlags), dlopens the result (RTLD_LOCAL) and
// resolves <networkName>_*.
CompiledModel compileModel(const std::string &source, const std::string &networkName,
                           const std::vector<std::string> &extraFlags = {});
// Same, from an existing file (.cnn or .ir; the file is not copied).
CompiledModel compileFile(const std::string &path, const std::string &networkName,
                          const std::vector<std::string> &extraFlags = {});
// Same, from a file of the repository (e.g. "examples/lenet5.cnn").
CompiledModel compileModelFile(const std::string &repoRelativePath, const std::string &networkName,
                               const std::vector<std::string> &extraFlags = {});

}  // namespace cnnc_test
