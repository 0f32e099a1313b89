// A cnnc model library opened with dlopen: its C API resolved by network name.
#pragma once

#include <cstdint>
#include <string>

namespace cnnrt_tool {

class ModelLibrary {
public:
    // Opens PATH (RTLD_NOW | RTLD_LOCAL) and resolves the inference API of network NAME
    // (empty: the file stem, "lenet5.so" -> "lenet5"). With needTraining, also the
    // training API. Throws std::runtime_error naming a missing symbol.
    ModelLibrary(const std::string &path, const std::string &name, bool needTraining);
    ~ModelLibrary();
    ModelLibrary(const ModelLibrary &) = delete;
    ModelLibrary &operator=(const ModelLibrary &) = delete;

    const std::string &name() const { return name_; }
    int channels() const { return dims_[0]; }
    int height() const { return dims_[1]; }
    int width() const { return dims_[2]; }
    int inputSize() const { return dims_[0] * dims_[1] * dims_[2]; }
    int outputSize() const { return outputSize_; }

    // Model calls; each throws std::runtime_error with the library's last_error on failure.
    void loadWeights(const std::string &path);
    void saveWeights(const std::string &path) const;
    void infer(const float *input, int batch, float *output);
    void setSgd(float lr, float momentum, float weightDecay);
    void setAdam(float lr, float beta1, float beta2, float eps, float weightDecay);
    void setLr(float lr);
    float trainStep(const float *input, const int32_t *labels, int batch);
    void saveCheckpoint(const std::string &path) const;
    void loadCheckpoint(const std::string &path);

    // Layers (cnnrt visualize): resolved on first use; a library without them
    // (built by an older cnnc) is an error then. layerIndex throws for an unknown name.
    int layerCount();
    std::string layerName(int i);
    int layerIndex(const std::string &name);
    void layerDims(int i, int dims[3]);
    void layerField(int i, int field[6]);
    void inferLayer(const float *input, int batch, const std::string &layer, float *output);
    void inputGradient(const float *input, int batch, const int32_t *classes, float *grad);

private:
    void resolveLayers();

    template <typename F> F resolve(const char *suffix, const char *hint);
    [[noreturn]] void fail(const std::string &what) const;

    void *handle_ = nullptr;
    void *model_ = nullptr;
    std::string path_, name_;
    int dims_[3] = {0, 0, 0};
    int outputSize_ = 0;

    void *(*create_)() = nullptr;
    void (*destroy_)(void *) = nullptr;
    const char *(*lastError_)() = nullptr;
    int (*inputDims_)(int *) = nullptr;
    int (*outputSizeFn_)() = nullptr;
    int (*loadWeights_)(void *, const char *) = nullptr;
    int (*saveWeights_)(const void *, const char *) = nullptr;
    int (*infer_)(void *, const float *, int, float *) = nullptr;
    int (*setSgd_)(void *, float, float, float) = nullptr;
    int (*setAdam_)(void *, float, float, float, float, float) = nullptr;
    int (*setLr_)(void *, float) = nullptr;
    int (*trainStep_)(void *, const float *, const int32_t *, int, float *) = nullptr;
    int (*saveCheckpoint_)(const void *, const char *) = nullptr;
    int (*loadCheckpoint_)(void *, const char *) = nullptr;
    int (*layerCount_)() = nullptr;
    const char *(*layerName_)(int) = nullptr;
    int (*layerDims_)(int, int *) = nullptr;
    int (*layerField_)(int, int *) = nullptr;
    int (*inferLayer_)(void *, const float *, int, const char *, float *) = nullptr;
    int (*inputGradient_)(void *, const float *, int, const int32_t *, float *) = nullptr;
};

// "dir/lenet5.so" -> "lenet5"; "liblenet5.so.1" -> "liblenet5".
std::string libraryStem(const std::string &path);

}  // namespace cnnrt_tool
