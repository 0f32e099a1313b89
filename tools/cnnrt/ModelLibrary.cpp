#include "tools/cnnrt/ModelLibrary.h"

#include <dlfcn.h>

#include <cctype>
#include <stdexcept>

namespace cnnrt_tool {

std::string libraryStem(const std::string &path) {
    std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
    size_t so = base.find(".so");
    if (so != std::string::npos && so > 0) return base.substr(0, so);
    size_t dot = base.find_last_of('.');
    return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

static bool isIdentifier(const std::string &s) {
    if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    return true;
}

template <typename F> F ModelLibrary::resolve(const char *suffix, const char *hint) {
    std::string sym = name_ + "_" + suffix;
    dlerror();
    void *p = dlsym(handle_, sym.c_str());
    if (!p) throw std::runtime_error(path_ + ": missing symbol '" + sym + "' (" + hint + ")");
    return reinterpret_cast<F>(p);
}

ModelLibrary::ModelLibrary(const std::string &path, const std::string &name, bool needTraining) : path_(path) {
    name_ = name.empty() ? libraryStem(path) : name;
    if (!isIdentifier(name_))
        throw std::runtime_error("'" + name_ + "' is not a valid network name; pass the network's name with --name");
    // Without a slash dlopen would search the library path instead of the current directory.
    std::string open = path.find('/') == std::string::npos ? "./" + path : path;
    handle_ = dlopen(open.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
        const char *e = dlerror();
        throw std::runtime_error("cannot load model library " + path + ": " + (e ? e : "unknown error"));
    }
    try {
        const char *api = "is the network's name right? pass it with --name";
        create_ = resolve<decltype(create_)>("create", api);
        destroy_ = resolve<decltype(destroy_)>("destroy", api);
        lastError_ = resolve<decltype(lastError_)>("last_error", api);
        inputDims_ = resolve<decltype(inputDims_)>("input_dims", api);
        outputSizeFn_ = resolve<decltype(outputSizeFn_)>("output_size", api);
        loadWeights_ = resolve<decltype(loadWeights_)>("load_weights", api);
        saveWeights_ = resolve<decltype(saveWeights_)>("save_weights", api);
        infer_ = resolve<decltype(infer_)>("infer", api);
        if (needTraining) {
            const char *t = "library was compiled without --train";
            setSgd_ = resolve<decltype(setSgd_)>("set_sgd", t);
            setAdam_ = resolve<decltype(setAdam_)>("set_adam", t);
            setLr_ = resolve<decltype(setLr_)>("set_lr", t);
            trainStep_ = resolve<decltype(trainStep_)>("train_step", t);
            saveCheckpoint_ = resolve<decltype(saveCheckpoint_)>("save_checkpoint", t);
            loadCheckpoint_ = resolve<decltype(loadCheckpoint_)>("load_checkpoint", t);
        }
        if (inputDims_(dims_) != 0) fail("input_dims failed");
        if (dims_[0] <= 0 || dims_[1] <= 0 || dims_[2] <= 0 || dims_[0] > 65536 || dims_[1] > 65536 ||
            dims_[2] > 65536 || int64_t(dims_[0]) * dims_[1] * dims_[2] > (int64_t(1) << 28))
            throw std::runtime_error(path_ + ": implausible input dims");
        outputSize_ = outputSizeFn_();
        if (outputSize_ <= 0) fail("output_size failed");
        model_ = create_();
        if (!model_) fail("cannot create the model");
    } catch (...) {
        dlclose(handle_);
        throw;
    }
}

ModelLibrary::~ModelLibrary() {
    if (model_) destroy_(model_);
    dlclose(handle_);
}

void ModelLibrary::fail(const std::string &what) const {
    const char *e = lastError_ ? lastError_() : nullptr;
    throw std::runtime_error(what + (e && *e ? std::string(": ") + e : std::string()));
}

void ModelLibrary::loadWeights(const std::string &p) {
    if (loadWeights_(model_, p.c_str()) != 0) fail("cannot load weights from " + p);
}
void ModelLibrary::saveWeights(const std::string &p) const {
    if (saveWeights_(model_, p.c_str()) != 0) fail("cannot save weights to " + p);
}
void ModelLibrary::infer(const float *in, int batch, float *out) {
    if (infer_(model_, in, batch, out) != 0) fail("inference failed");
}
void ModelLibrary::setSgd(float lr, float momentum, float wd) {
    if (setSgd_(model_, lr, momentum, wd) != 0) fail("cannot set the SGD optimiser");
}
void ModelLibrary::setAdam(float lr, float b1, float b2, float eps, float wd) {
    if (setAdam_(model_, lr, b1, b2, eps, wd) != 0) fail("cannot set the Adam optimiser");
}
void ModelLibrary::setLr(float lr) {
    if (setLr_(model_, lr) != 0) fail("cannot set the learning rate");
}
float ModelLibrary::trainStep(const float *in, const int32_t *labels, int batch) {
    float loss = 0;
    if (trainStep_(model_, in, labels, batch, &loss) != 0) fail("training step failed");
    return loss;
}
void ModelLibrary::saveCheckpoint(const std::string &p) const {
    if (saveCheckpoint_(model_, p.c_str()) != 0) fail("cannot save checkpoint " + p);
}
void ModelLibrary::loadCheckpoint(const std::string &p) {
    if (loadCheckpoint_(model_, p.c_str()) != 0) fail("cannot load checkpoint " + p);
}

void ModelLibrary::resolveLayers() {
    if (layerCount_) return;
    const char *hint = "library was compiled by a cnnc without layer access";
    layerName_ = resolve<decltype(layerName_)>("layer_name", hint);
    layerDims_ = resolve<decltype(layerDims_)>("layer_dims", hint);
    layerField_ = resolve<decltype(layerField_)>("layer_field", hint);
    inferLayer_ = resolve<decltype(inferLayer_)>("infer_layer", hint);
    inputGradient_ = resolve<decltype(inputGradient_)>("input_gradient", hint);
    layerCount_ = resolve<decltype(layerCount_)>("layer_count", hint);
}
int ModelLibrary::layerCount() {
    resolveLayers();
    int n = layerCount_();
    if (n < 0) fail("layer_count failed");
    return n;
}
std::string ModelLibrary::layerName(int i) {
    resolveLayers();
    const char *n = layerName_(i);
    if (!n) fail("layer_name failed");
    return n;
}
int ModelLibrary::layerIndex(const std::string &name) {
    const int n = layerCount();
    for (int i = 0; i < n; ++i)
        if (layerName(i) == name) return i;
    throw std::runtime_error("model '" + name_ + "' has no layer named '" + name + "' (`cnnc --summary` lists them)");
}
void ModelLibrary::layerDims(int i, int dims[3]) {
    resolveLayers();
    if (layerDims_(i, dims) != 0) fail("layer_dims failed");
}
void ModelLibrary::layerField(int i, int field[6]) {
    resolveLayers();
    if (layerField_(i, field) != 0) fail("layer_field failed");
}
void ModelLibrary::inferLayer(const float *in, int batch, const std::string &layer, float *out) {
    resolveLayers();
    if (inferLayer_(model_, in, batch, layer.c_str(), out) != 0) fail("infer_layer failed");
}
void ModelLibrary::inputGradient(const float *in, int batch, const int32_t *classes, float *grad) {
    resolveLayers();
    if (inputGradient_(model_, in, batch, classes, grad) != 0) fail("input_gradient failed");
}

}  // namespace cnnrt_tool
