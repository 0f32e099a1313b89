#include "codegen/Codegen.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <Halide.h>
#include <fmt/format.h>

#include "codegen/KernelBuilder.h"
#include "codegen/KernelCache.h"
#include "codegen/LayerPlan.h"
#include "codegen/Parallel.h"
#include "codegen/Toolchain.h"
#include "codegen/TrainingPlan.h"
#include "codegen/TuningDb.h"
#include "passes/MemoryPlan.h"
#include "runtime/ModelDesc.h"

namespace fs = std::filesystem;

namespace cnnc {

namespace {

std::string cString(const std::string &s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        if (ch == '"' || ch == '\\') out += '\\', out += char(ch);
        else if (ch >= 32 && ch < 127 && ch != '?') out += char(ch);
        else out += fmt::format("\\{:03o}", ch);
    }
    return out + "\"";
}

// Runs a program with arguments (no shell); throws with its name on failure.
void run(const std::vector<std::string> &argv) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("cannot start " + argv[0]);
    if (pid == 0) {
        std::vector<char *> args;
        for (auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string cmd;
        for (auto &a : argv) cmd += (cmd.empty() ? "" : " ") + a;
        throw std::runtime_error("command failed (status " + std::to_string(WEXITSTATUS(status)) + "): " + cmd);
    }
}

std::string envOr(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return v && *v ? v : fallback;
}

// One compiled form of a kernel in the library: a kernel has one, or one per
// batch range when tuning found another schedule faster at large batches.
struct KernelInstance {
    size_t spec = 0; // index into the partition
    KernelBuildOptions build;
    int minBatch = 0, maxBatch = 0;   // cnnrt_kernel_desc's batch range (0: unbounded)
    Halide::Target target;            // what `fn` is compiled for
    std::string fn;                   // the compiled function
    std::string portableFn;           // the same kernel for the portable target, where `target` is wider
    std::vector<const Param *> args;  // its parameters in argument order
    bool tuned = false;               // its schedule comes from the tuning database or --schedule
};

// A file assembled into the library (.incbin: no C array for the compiler
// to parse, so hundreds of megabytes cost what copying them costs).
struct EmbeddedFile {
    std::string path; // a link in the scratch directory
    uint64_t size = 0;
};

// `s` as an assembler string literal.
std::string asmString(const std::string &s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        if (ch < 32) throw std::runtime_error("the scratch directory's name has a control character: " + s);
        if (ch == '"' || ch == '\\') out += '\\';
        out += char(ch);
    }
    return out + "\"";
}

// The file `source` as an EmbeddedFile linked from `scratch`; none for "".
EmbeddedFile embedFile(const std::string &source, const std::string &scratch) {
    if (source.empty()) return {};
    std::error_code ec;
    if (!fs::is_regular_file(source, ec)) throw std::runtime_error("cannot read weights '" + source + "'");
    EmbeddedFile file{scratch + "/weights.safetensors", uint64_t(fs::file_size(source))};
    fs::create_symlink(fs::absolute(source), file.path);
    return file;
}

// Creates a model from the library just linked, so that embedded weights the
// runtime would refuse (names, shapes, a damaged file) fail the compile
// rather than every <name>_create() of the user's program.
void checkEmbeddedWeights(const std::string &library, const std::string &network, const std::string &source) {
    void *handle = dlopen(fs::absolute(library).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error(std::string("cannot load the library to check its weights: ") + dlerror());
    auto create = reinterpret_cast<void *(*)()>(dlsym(handle, (network + "_create").c_str()));
    auto destroy = reinterpret_cast<void (*)(void *)>(dlsym(handle, (network + "_destroy").c_str()));
    auto lastError = reinterpret_cast<const char *(*)()>(dlsym(handle, (network + "_last_error").c_str()));
    std::string error = create && destroy && lastError ? "" : "the library lacks " + network + "_create";
    if (error.empty()) {
        if (void *model = create()) destroy(model);
        else error = lastError();
    }
    dlclose(handle);
    if (!error.empty()) throw std::runtime_error("weights '" + source + "': " + error);
}

// A cnnrt_kernel_desc row of a generated table (fields by name: the C
// follows ModelDesc.h's names, not its order).
std::string kernelRow(const std::string &label, const std::string &fn, size_t numArgs, const std::string &args,
                      int minBatch, int maxBatch, const std::string &portableFn) {
    return fmt::format("    {{.name = {}, .fn = {}_argv, .num_args = {}, .args = {}, .min_batch = {}, .max_batch = {}, "
                       ".portable_fn = {}}},\n",
                       cString(label), fn, numArgs, args, minBatch, maxBatch,
                       portableFn.empty() ? std::string("0") : portableFn + "_argv");
}

// A cnnrt_tensor_desc row.
std::string tensorRow(int storage, int index, int64_t offset, int64_t w, int64_t h, int64_t c, int64_t innerOffset,
                      int64_t sampleStride) {
    return fmt::format("{{.storage = {}, .index = {}, .offset = {}, .dims = {{{}, {}, {}}}, .inner_offset = {}, "
                       ".sample_stride = {}}}",
                       storage, index, offset, w, h, c, innerOffset, sampleStride);
}

class ModuleWriter {
public:
    // params: every parameter of the library, the inference graph's first.
    // preparedFrom: the source of each prepared form (OpDef::preparedParams).
    ModuleWriter(const Graph &g, const std::vector<KernelSpec> &kernels, const std::vector<KernelInstance> &instances,
                 const std::map<const Param *, const Param *> &preparedFrom, const MemoryPlan &plan,
                 const std::vector<std::string> &ignored, const std::vector<const Param *> &params,
                 const TrainingPlan *training, const std::vector<std::string> &trainFns,
                 const std::vector<std::string> &trainPortableFns, const KernelTargets &targets,
                 const EmbeddedFile &weights)
        : g_(g), kernels_(kernels), instances_(instances), preparedFrom_(preparedFrom), plan_(plan),
          ignored_(ignored), params_(params), training_(training), trainFns_(trainFns),
          trainPortableFns_(trainPortableFns), targets_(targets), weights_(weights) {
        for (size_t i = 0; i < params.size(); ++i) paramIndex_[params[i]] = int(i);
    }

    // The layer plan and its kernels' functions (layer kernels, then gradient kernels).
    void withLayers(const LayerPlan *plan, std::vector<std::string> fns) {
        layers_ = plan;
        layerFns_ = std::move(fns);
    }

    std::string source() {
        std::ostringstream body;
        emitKernelTable(body);
        if (layers_) emitLayerTables(body);
        std::ostringstream out;
        out << "/* Generated by cnnc for network '" << g_.name << "'. Do not edit. */\n"
            << "#include \"runtime/Runtime.h\"\n\n";
        if (training_) emitTrainTable(body);
        for (auto &fn : uniqueFns()) out << "extern int " << fn << "_argv(void **args);\n";
        out << "\n" << embeddedWeights() << paramTable() << body.str() << descriptor() << api();
        return out.str();
    }

private:
    const Graph &g_;
    const std::vector<KernelSpec> &kernels_;
    const std::vector<KernelInstance> &instances_;
    const std::map<const Param *, const Param *> &preparedFrom_;
    const MemoryPlan &plan_;
    const std::vector<std::string> &ignored_;
    const std::vector<const Param *> &params_;
    const TrainingPlan *training_;
    const std::vector<std::string> &trainFns_;
    const std::vector<std::string> &trainPortableFns_; // "" where the kernel is portable already
    const KernelTargets &targets_;
    const EmbeddedFile &weights_;
    std::map<const Param *, int> paramIndex_;
    std::vector<StorageRef> storage_ = resolveStorage(g_);
    std::vector<std::string> tensors_;
    std::map<std::string, int> tensorIndex_;
    const LayerPlan *layers_ = nullptr;
    std::vector<std::string> layerFns_;
    int inputGradientTensor_ = 0;

    // One kernel table of the layer plan, its argument arrays prefixed `prefix`.
    void emitPlannedTable(std::ostringstream &out, const char *table, const char *prefix,
                          const std::vector<PlannedKernel> &kernels, size_t firstFn) {
        std::ostringstream rows;
        for (size_t k = 0; k < kernels.size(); ++k) {
            const PlannedKernel &pk = kernels[k];
            out << "static const int " << prefix << k << "_args[] = {";
            for (size_t i = 0; i < pk.args.size(); ++i) out << (i ? ", " : "") << tensorRef(pk.args[i]);
            out << "};\n";
            rows << kernelRow(pk.label, layerFns_[firstFn + k], pk.args.size(), prefix + std::to_string(k) + "_args", 0,
                              0, "");
        }
        out << "\nstatic const cnnrt_kernel_desc " << table << "[] = {\n" << rows.str() << "    {0}\n};\n\n";
    }

    void emitLayerTables(std::ostringstream &out) {
        emitPlannedTable(out, "layer_kernels", "l", layers_->kernels, 0);
        emitPlannedTable(out, "gradient_kernels", "g", layers_->gradientKernels, layers_->kernels.size());
        std::ostringstream rows;
        for (const PlannedLayer &l : layers_->layers)
            rows << fmt::format("    {{.name = {}, .tensor = {}, .kernels = {}, .field = {{{}, {}, {}, {}, {}, {}}}}},\n",
                                cString(l.name), tensorRef(l.tensor), l.kernels, l.field.size.h, l.field.size.w,
                                l.field.jump.h, l.field.jump.w, l.field.start.h, l.field.start.w);
        out << "static const cnnrt_layer_desc layers[] = {\n" << rows.str() << "    {0}\n};\n\n";
        if (!layers_->gradientKernels.empty()) inputGradientTensor_ = tensorRef(layers_->inputGradient);
    }

    std::string layerFields() const {
        if (!layers_) return "";
        const bool gradient = !layers_->gradientKernels.empty();
        return fmt::format("    .num_layer_kernels = {},\n    .layer_kernels = layer_kernels,\n"
                           "    .layer_arena_floats_per_sample = {},\n"
                           "    .num_layers = {},\n    .layers = layers,\n"
                           "    .num_gradient_kernels = {},\n    .gradient_kernels = gradient_kernels,\n"
                           "    .input_gradient_tensor = {},\n",
                           layers_->kernels.size(), layers_->arenaFloats, layers_->layers.size(),
                           layers_->gradientKernels.size(), gradient ? inputGradientTensor_ : 0);
    }

    std::vector<std::string> uniqueFns() const {
        std::vector<std::string> u;
        auto add = [&](const std::string &f) {
            if (std::find(u.begin(), u.end(), f) == u.end()) u.push_back(f);
        };
        for (const KernelInstance &k : instances_) add(k.fn), add(k.portableFn);
        for (const std::string &f : trainFns_) add(f);
        for (const std::string &f : trainPortableFns_) add(f);
        for (const std::string &f : layerFns_) add(f);
        u.erase(std::remove(u.begin(), u.end(), std::string()), u.end());
        return u;
    }

    // Whether any kernel's `fn` needs more than the portable target.
    bool usesWide() const {
        for (const KernelInstance &k : instances_)
            if (!k.portableFn.empty()) return true;
        for (const std::string &f : trainPortableFns_)
            if (!f.empty()) return true;
        return false;
    }

    int tensorRef(const TensorRef &r) {
        return tensor(tensorRow(r.storage, r.index, r.offset, r.dims[0], r.dims[1], r.dims[2], 0, 0));
    }

    void emitTrainTable(std::ostringstream &out) {
        std::ostringstream table;
        for (size_t k = 0; k < training_->kernels.size(); ++k) {
            const PlannedKernel &pk = training_->kernels[k];
            out << "static const int t" << k << "_args[] = {";
            for (size_t i = 0; i < pk.args.size(); ++i) out << (i ? ", " : "") << tensorRef(pk.args[i]);
            out << "};\n";
            table << kernelRow(pk.label, trainFns_[k], pk.args.size(), "t" + std::to_string(k) + "_args", 0, 0,
                               trainPortableFns_[k]);
        }
        out << "\nstatic const cnnrt_kernel_desc train_kernels[] = {\n" << table.str() << "    {0}\n};\n\n";
        out << "static const cnnrt_loss_term loss_terms[] = {\n";
        for (auto &[ref, weight] : training_->lossTerms)
            out << fmt::format("    {{.tensor = {}, .weight = (float){:.9g}}},\n", tensorRef(ref), weight);
        out << "    {0}\n};\n\n";
    }

    int tensor(const std::string &row) {
        auto [it, fresh] = tensorIndex_.emplace(row, int(tensors_.size()));
        if (fresh) tensors_.push_back(row);
        return it->second;
    }

    int activation(int node) {
        const StorageRef &ref = storage_[size_t(node)];
        const TensorType &t = g_.node(node).type;
        int kind = g_.node(ref.root).isInput() ? CNNRT_STORAGE_INPUT
                   : ref.root == storage_[size_t(g_.result)].root ? CNNRT_STORAGE_OUTPUT
                                                                  : CNNRT_STORAGE_ACTIVATION;
        int64_t offset = kind == CNNRT_STORAGE_ACTIVATION ? plan_.offset.at(ref.root) : 0;
        int64_t sampleStride = ref.dense(g_, node) ? 0 : ref.sampleFloats;
        return tensor(tensorRow(kind, 0, offset, t.width(), t.height(), t.channels(), ref.offset, sampleStride));
    }

    int param(const Param *p) {
        return tensor(tensorRow(CNNRT_STORAGE_PARAM, paramIndex_.at(p), 0, 0, 0, 0, 0, 0));
    }

    void emitKernelTable(std::ostringstream &out) {
        std::ostringstream table;
        for (size_t k = 0; k < instances_.size(); ++k) {
            const KernelInstance &instance = instances_[k];
            const KernelSpec &spec = kernels_[instance.spec];
            std::vector<int> args;
            for (int e : spec.externals) args.push_back(activation(e));
            for (const Param *p : instance.args) args.push_back(param(p));
            args.push_back(activation(spec.nodes.back()));
            out << "static const int k" << k << "_args[] = {";
            for (size_t i = 0; i < args.size(); ++i) out << (i ? ", " : "") << args[i];
            out << "};\n";
            std::string label = kernelLabel(g_, spec);
            if (instance.minBatch > 1 && instance.maxBatch)
                label += " [batch " + std::to_string(instance.minBatch) + "-" + std::to_string(instance.maxBatch) + "]";
            else if (instance.maxBatch) label += " [batch<=" + std::to_string(instance.maxBatch) + "]";
            else if (instance.minBatch > 1) label += " [batch>=" + std::to_string(instance.minBatch) + "]";
            table << kernelRow(label, instance.fn, args.size(), "k" + std::to_string(k) + "_args", instance.minBatch,
                               instance.maxBatch, instance.portableFn);
        }
        resultTensor_ = activation(g_.result);
        out << "\nstatic const cnnrt_kernel_desc kernels[] = {\n" << table.str() << "    {0}\n};\n\n";
    }
    int resultTensor_ = 0;

    std::string paramTable() const {
        std::string s = "static const cnnrt_param_desc params[] = {\n";
        for (const Param *p : params_) {
            const auto &shape = p->decl.shape;
            std::string dims, sources;
            for (size_t i = 0; i < 4; ++i) dims += (i ? ", " : "") + std::to_string(i < shape.size() ? shape[i] : 0);
            auto prepared = preparedFrom_.find(p);
            for (size_t i = 0; i < 6; ++i) {
                int src = i < p->decl.sources.size() ? p->decl.sources[i] : -1;
                int index = prepared != preparedFrom_.end() ? (i == 0 ? paramIndex_.at(prepared->second) : -1)
                            : src < 0                       ? -1
                                                            : paramIndex_.at(siblingParam(p, src));
                sources += (i ? ", " : "") + std::to_string(index);
            }
            s += fmt::format("    {{.name = {}, .rank = {}, .shape = {{{}}}, .init = {}, .fan_in = {}, .derive = {}, "
                             ".sources = {{{}}}, .eps = (float){:.9g}, .buffer = {}}},\n",
                             cString(p->name), shape.size(), dims, int(p->decl.init), p->decl.fanIn,
                             deriveKind(p->decl.derivation), sources, p->decl.eps, p->decl.buffer ? 1 : 0);
        }
        return s + "    {0}\n};\n\n";
    }

    // The parameter at `index` in the same node's list as `p`.
    const Param *siblingParam(const Param *p, int index) const {
        for (const Node &n : g_.nodes)
            if (!n.params.empty() && p >= &n.params.front() && p <= &n.params.back()) return &n.params[size_t(index)];
        throw std::logic_error("derived parameter outside the inference graph");
    }

    static int deriveKind(ParamDerivation d) {
        switch (d) {
        case ParamDerivation::None: return CNNRT_DERIVE_NONE;
        case ParamDerivation::FoldBatchNormWeight: return CNNRT_DERIVE_FOLD_BN_WEIGHT;
        case ParamDerivation::FoldBatchNormBias: return CNNRT_DERIVE_FOLD_BN_BIAS;
        case ParamDerivation::WinogradFilter: return CNNRT_DERIVE_WINOGRAD_FILTER;
        case ParamDerivation::BlockedFilter: return CNNRT_DERIVE_BLOCKED_FILTER;
        case ParamDerivation::WinogradBlockedFilter: return CNNRT_DERIVE_WINOGRAD_BLOCKED_FILTER;
        }
        return CNNRT_DERIVE_NONE;
    }

    // The weights file as read-only bytes of the library, aligned for the
    // floats in it; hidden, so that no two libraries' copies collide.
    std::string embeddedWeights() const {
        if (weights_.path.empty()) return "";
        const std::string assembly = ".section .rodata.cnnc_weights,\"a\",@progbits\n.balign 64\n"
                                     ".globl cnnc_embedded_weights\n.hidden cnnc_embedded_weights\n"
                                     "cnnc_embedded_weights:\n.incbin " + asmString(weights_.path) + "\n.previous\n";
        return "__asm__(" + cString(assembly) + ");\nextern const unsigned char cnnc_embedded_weights[];\n\n";
    }

    std::string descriptor() const {
        std::string s = "static const cnnrt_tensor_desc tensors[] = {\n";
        for (auto &t : tensors_) s += "    " + t + ",\n";
        s += "};\n\n";
        const TensorType &in = g_.input().type;
        int C = int(in.channels()), H = int(in.height()), W = int(in.width());
        s += "static const char *const ignored_params[] = {\n";
        for (auto &name : ignored_) s += "    " + cString(name) + ",\n";
        s += "    0\n};\n\n";
        std::string train = training_ ? fmt::format("    .num_train_kernels = {},\n    .train_kernels = train_kernels,\n"
                                                    "    .train_arena_floats_per_sample = {},\n"
                                                    "    .num_loss_terms = {},\n    .loss_terms = loss_terms,\n"
                                                    "    .num_classes = {},\n",
                                                    training_->kernels.size(), training_->arenaFloats,
                                                    training_->lossTerms.size(), training_->numClasses)
                                      : "";
        const int portableLevel = isaLevel(targets_.portable);
        s += fmt::format("static const cnnrt_model_desc desc = {{\n"
                         "    .network = {},\n    .input_dims = {{{}, {}, {}}},\n    .output_size = {},\n"
                         "    .num_params = {},\n    .params = params,\n"
                         "    .num_tensors = {},\n    .tensors = tensors,\n"
                         "    .num_kernels = {},\n    .kernels = kernels,\n"
                         "    .result_tensor = {},\n    .arena_floats_per_sample = {},\n"
                         "    .num_ignored_params = {},\n    .ignored_params = ignored_params,\n"
                         "{}"
                         "    .isa_level = {},\n    .portable_isa_level = {},\n{}{}{}}};\n\n",
                         cString(g_.name), C, H, W, g_.node(g_.result).type.elementsPerSample(), params_.size(),
                         tensors_.size(), instances_.size(), resultTensor_, plan_.arenaFloats, ignored_.size(), train,
                         usesWide() ? isaLevel(targets_.wide) : portableLevel, portableLevel,
                         weights_.path.empty() ? std::string()
                                               : fmt::format("    .embedded_weights = cnnc_embedded_weights,\n"
                                                             "    .embedded_weights_size = {}ull,\n",
                                                             weights_.size),
                         layerFields(),
                         g_.fixedBatch > 0 ? fmt::format("    .fixed_batch = {},\n", g_.fixedBatch) : std::string());
        return s;
    }

    std::string api() const {
        return fmt::format(R"(#define API __attribute__((visibility("default")))
typedef struct {m}_model {m}_model;
API {m}_model *{m}_create(void) {{ return ({m}_model *)cnnrt_create(&desc); }}
API void {m}_destroy({m}_model *m) {{ cnnrt_destroy((cnnrt_model *)m); }}
API const char *{m}_last_error(void) {{ return cnnrt_last_error(); }}
API int {m}_input_dims(int dims[3]) {{ return cnnrt_input_dims(&desc, dims); }}
API int {m}_output_size(void) {{ return cnnrt_output_size(&desc); }}
API int {m}_load_weights({m}_model *m, const char *path) {{ return cnnrt_load_weights((cnnrt_model *)m, path); }}
API int {m}_save_weights(const {m}_model *m, const char *path) {{ return cnnrt_save_weights((const cnnrt_model *)m, path); }}
API int {m}_infer({m}_model *m, const float *input, int batch, float *output) {{ return cnnrt_infer((cnnrt_model *)m, input, batch, output); }}
API int {m}_set_memory_limit({m}_model *m, int64_t bytes) {{ return cnnrt_set_memory_limit((cnnrt_model *)m, bytes); }}
API int {m}_set_num_threads(int n) {{ return cnnrt_set_num_threads(n); }}
API int {m}_set_sgd({m}_model *m, float lr, float momentum, float weight_decay) {{ return cnnrt_set_sgd((cnnrt_model *)m, lr, momentum, weight_decay); }}
API int {m}_set_adam({m}_model *m, float lr, float beta1, float beta2, float eps, float weight_decay) {{ return cnnrt_set_adam((cnnrt_model *)m, lr, beta1, beta2, eps, weight_decay); }}
API int {m}_set_lr({m}_model *m, float lr) {{ return cnnrt_set_lr((cnnrt_model *)m, lr); }}
API int {m}_train_step({m}_model *m, const float *input, const int32_t *labels, int batch, float *loss) {{ return cnnrt_train_step((cnnrt_model *)m, input, labels, batch, loss); }}
API int {m}_save_checkpoint(const {m}_model *m, const char *path) {{ return cnnrt_save_checkpoint((const cnnrt_model *)m, path); }}
API int {m}_load_checkpoint({m}_model *m, const char *path) {{ return cnnrt_load_checkpoint((cnnrt_model *)m, path); }}
API int {m}_layer_count(void) {{ return cnnrt_layer_count(&desc); }}
API const char *{m}_layer_name(int i) {{ return cnnrt_layer_name(&desc, i); }}
API int {m}_layer_dims(int i, int dims[3]) {{ return cnnrt_layer_dims(&desc, i, dims); }}
API int {m}_layer_field(int i, int field[6]) {{ return cnnrt_layer_field(&desc, i, field); }}
API int {m}_infer_layer({m}_model *m, const float *input, int batch, const char *layer, float *output) {{ return cnnrt_infer_layer((cnnrt_model *)m, input, batch, layer, output); }}
API int {m}_input_gradient({m}_model *m, const float *input, int batch, const int32_t *classes, float *grad) {{ return cnnrt_input_gradient((cnnrt_model *)m, input, batch, classes, grad); }}
)",
                           fmt::arg("m", g_.name));
    }
};

std::string makeScratchDir() {
    std::string tmpl = envOr("TMPDIR", "/tmp") + "/cnnc-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("cannot create a scratch directory in " + envOr("TMPDIR", "/tmp"));
    return buf.data();
}

void writeFile(const std::string &path, const std::string &text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f.good()) throw std::runtime_error("cannot write " + path);
}

// The target a kernel compiles for, where this CPU has a wide one: the wide
// one, unless the tuning database has entries for the kernel's portable form
// and none for its wide form, or ones at least as fast (per sample, summed over
// the tuned batches: `cnnc tune` times both forms in one run). Entries are
// this CPU's only (TuningDb's key), so the comparison is of one CPU's times.
Halide::Target chooseTarget(const KernelSpec &spec, const KernelTargets &targets, const CodegenOptions &options) {
    if (!targets.hasWide()) return targets.portable;
    if (targets.everyKernelWide || !options.tuning || options.forcedSchedule) return targets.wide;
    auto recorded = [&](const Halide::Target &t) { // summed over the batch variants; 0: none
        double micros = 0;
        for (const TuningEntry &e : options.tuning->variants(spec.signature, t)) micros += e.microsPerSample;
        return micros;
    };
    const double wide = recorded(targets.wide), portable = recorded(targets.portable);
    return portable > 0 && (wide == 0 || portable <= wide) ? targets.portable : targets.wide;
}

// The schedules a kernel compiles with, each for the batches from its
// minBatch to the next one's: the tuning database's choices (one, or one per
// batch variant) where they are still in the op's schedule space, else the
// op's default for the kernel's vector width.
std::vector<KernelInstance> kernelInstances(const Graph &graph, const std::vector<KernelSpec> &kernels, size_t k,
                                            const KernelTargets &targets, const CodegenOptions &options) {
    const KernelSpec &spec = kernels[k];
    KernelInstance instance;
    instance.spec = k;
    instance.target = chooseTarget(spec, targets, options);
    instance.build.autoscheduler = options.autoscheduler;
    if (!options.autoscheduler.empty()) return {instance};
    struct Wanted {
        int minBatch;
        std::optional<ScheduleChoice> choice; // nullopt: the default
    };
    std::vector<Wanted> wanted;
    if (options.forcedSchedule) wanted.push_back({1, *options.forcedSchedule});
    else if (options.tuning)
        for (const TuningEntry &e : options.tuning->variants(spec.signature, instance.target))
            wanted.push_back({e.minBatch, e.choice});
    if (wanted.empty() || wanted.front().minBatch > 1) wanted.insert(wanted.begin(), {1, std::nullopt});
    const ScheduleChoice untuned = defaultSchedule(graph, spec, instance.target.natural_vector_size<float>());
    std::vector<ScheduleChoice> space = scheduleSpace(graph, spec);
    std::vector<KernelInstance> instances;
    for (const Wanted &w : wanted) {
        const bool tuned = w.choice && std::find(space.begin(), space.end(), *w.choice) != space.end();
        const ScheduleChoice &valid = tuned ? *w.choice : untuned;
        if (!instances.empty() && instances.back().build.choice == valid) continue; // same code: one range
        if (!instances.empty()) instances.back().maxBatch = w.minBatch - 1;
        instance.build.choice = valid;
        instance.tuned = tuned;
        instance.minBatch = w.minBatch;
        instances.push_back(instance);
    }
    if (instances.size() == 1) instances[0].minBatch = 0; // every batch
    return instances;
}

} // namespace

CodegenStats compileToSharedLibrary(const Graph &graph, const CodegenOptions &options) {
    std::string scratch = makeScratchDir();
    struct Cleanup {
        std::string dir;
        bool keep;
        ~Cleanup() {
            std::error_code ec;
            if (!keep) fs::remove_all(dir, ec);
        }
    } cleanup{scratch, options.keepTemps};
    // Checked before any kernel compiles, which can take minutes.
    const EmbeddedFile weights = embedFile(options.embeddedWeights, scratch);

    const KernelTargets targets = kernelTargets();
    KernelCache cache(options.cacheDir, options.noCache, scratch);
    std::vector<KernelSpec> kernels = partitionKernels(graph);

    CodegenStats stats;
    stats.kernels = int(kernels.size());
    std::vector<KernelInstance> instances;
    std::map<std::string, std::string> objects; // function name -> object path
    std::vector<std::function<void()>> jobs;
    std::set<std::string> countedTuned;
    // Adds the kernel `text` compiled for `target` to the library (once:
    // identical layers share one kernel) and returns its function's name.
    auto addKernel = [&](const std::string &text, const Halide::Target &target,
                         std::function<BuiltKernel(const Halide::Target &)> build) {
        std::string key = KernelCache::key(text, target);
        std::string fn = KernelCache::functionName(key);
        if (objects.count(fn)) return fn;
        objects[fn] = cache.objectPath(key);
        ++stats.uniqueKernels;
        if (cache.has(key)) ++stats.cachedKernels;
        else jobs.push_back([&cache, target, key, build] { cache.compile([&] { return build(target); }, target, key); });
        return fn;
    };
    // What each kernel reads: parameters, or forms of them its schedule wants
    // prepared (named after their source: "conv1.weight.winograd").
    std::map<std::string, Param> preparedParams;
    std::map<const Param *, const Param *> preparedFrom;
    for (size_t k = 0; k < kernels.size(); ++k)
        for (KernelInstance &instance : kernelInstances(graph, kernels, k, targets, options)) {
            const KernelBuildOptions &build = instance.build;
            for (const KernelParam &kp : kernelParams(graph, kernels[k], build.choice)) {
                if (!kp.prepared) {
                    instance.args.push_back(kp.param);
                    continue;
                }
                // Batch variants of one kernel may read different forms of a
                // parameter (F(2x2) and F(4x4) filters): a later one is named by its shape too.
                auto taken = [&](const std::string &n) {
                    auto it = preparedParams.find(n);
                    return it != preparedParams.end() && (it->second.decl.shape != kp.prepared->shape ||
                                                          it->second.decl.derivation != kp.prepared->derivation);
                };
                const std::string base = kp.param->name + "." + kp.prepared->suffix;
                std::string name = base;
                if (taken(name)) name = base + "." + fmt::format("{}", fmt::join(kp.prepared->shape, "x"));
                for (int n = 2; taken(name); ++n) name = base + "." + std::to_string(n);
                const Param &prepared = preparedParams.emplace(name, Param{name, *kp.prepared}).first->second;
                preparedFrom[&prepared] = kp.param;
                instance.args.push_back(&prepared);
            }
            const std::string text = kernels[k].signature + "|" + build.choice.str() + "|" + build.autoscheduler;
            auto compile = [&graph, &kernels, k, build](const Halide::Target &t) {
                return buildKernel(graph, kernels[k], t, build);
            };
            instance.fn = addKernel(text, instance.target, compile);
            if (instance.target != targets.portable) instance.portableFn = addKernel(text, targets.portable, compile);
            if (instance.tuned && !countedTuned.count(instance.fn)) {
                countedTuned.insert(instance.fn);
                ++stats.tunedKernels;
            }
            instances.push_back(instance);
        }
    if (options.forcedSchedule && stats.tunedKernels == 0)
        throw std::runtime_error("schedule '" + options.forcedSchedule->str() +
                                 "' is not a candidate of any kernel of this model (see 'cnnc tune')");
    // Every parameter of the library: the inference graph's, then those only
    // training uses (aux heads).
    std::vector<const Param *> params = graph.parameters();
    std::map<std::string, int> paramIndex;
    for (size_t i = 0; i < params.size(); ++i) paramIndex[params[i]->name] = int(i);
    std::unique_ptr<TrainingPlan> training;
    std::vector<std::string> trainFns, trainPortableFns;
    if (options.training) {
        for (const Param *p : options.training->parameters())
            if (!paramIndex.count(p->name)) {
                paramIndex[p->name] = int(params.size());
                params.push_back(p);
            }
        training = std::make_unique<TrainingPlan>(
            planTraining(*options.training, [&](const std::string &name) { return paramIndex.at(name); },
                         targets.portable, targets.wide));
        if (options.dumpTrainingPlan)
            *options.dumpTrainingPlan << "// ----- IR Dump After plan-training (forward in training mode, losses, "
                                         "backward) -----\n"
                                      << printTrainingPlan(*training) << "\n";
        for (const PlannedKernel &k : training->kernels) {
            trainFns.push_back(addKernel(k.signature, k.target, k.build));
            trainPortableFns.push_back(k.target != targets.portable ? addKernel(k.signature, targets.portable, k.build)
                                                                    : std::string());
        }
    }
    std::unique_ptr<LayerPlan> layers;
    std::vector<std::string> layerFns;
    if (options.layers) {
        for (const Param *p : options.layers->parameters())
            if (!paramIndex.count(p->name)) {
                paramIndex[p->name] = int(params.size());
                params.push_back(p);
            }
        layers = std::make_unique<LayerPlan>(planLayers(
            *options.layers, [&](const std::string &name) { return paramIndex.at(name); }, targets.portable,
            options.training != nullptr));
        for (const auto *table : {&layers->kernels, &layers->gradientKernels})
            for (const PlannedKernel &k : *table) layerFns.push_back(addKernel(k.signature, k.target, k.build));
        stats.layerKernels = int(layers->kernels.size() + layers->gradientKernels.size());
    }
    // After every other parameter, so that the runtime computes their sources first.
    for (auto &[name, p] : preparedParams) params.push_back(&p);
    int workers = options.jobs > 0 ? options.jobs : int(std::max(1u, std::thread::hardware_concurrency()));
    runInParallel(jobs, workers, options.progress);

    // Use the plan-memory pass's result when it ran, else plan now.
    MemoryPlan plan;
    if (graph.arenaFloats >= 0) {
        verifyMemoryPlan(graph);
        plan.arenaFloats = graph.arenaFloats;
        for (auto &n : graph.nodes)
            if (n.arenaOffset >= 0) plan.offset[n.id] = n.arenaOffset;
    } else {
        plan = planMemory(graph, kernels, arenaExempt(graph));
    }
    stats.arenaFloatsPerSample = plan.arenaFloats;

    std::string glue = scratch + "/" + graph.name + "_model.c";
    ModuleWriter writer(graph, kernels, instances, preparedFrom, plan, options.ignoredParams, params, training.get(),
                        trainFns, trainPortableFns, targets, weights);
    writer.withLayers(layers.get(), std::move(layerFns));
    writeFile(glue, writer.source());
    std::string versionScript = scratch + "/exports.map";
    writeFile(versionScript, "{\n  global: " + graph.name + "_*;\n  local: *;\n};\n");

    std::string cc = envOr("CC", "cc"), cxx = envOr("CXX", "c++");
    const ToolchainPaths &toolchain = toolchainPaths();
    run({cc, "-O2", "-fPIC", "-fvisibility=hidden", "-I" + toolchain.includeDir, "-c", glue, "-o", glue + ".o"});

    std::string tmpOut = options.outputPath + ".tmp." + std::to_string(getpid());
    std::vector<std::string> link = {cxx, "-shared", "-o", tmpOut, glue + ".o"};
    for (auto &[fn, obj] : objects) link.push_back(obj);
    link.push_back(cache.runtimeObject(targets.portable));
    link.insert(link.end(), {toolchain.runtimeLibrary, "-Wl,--version-script=" + versionScript,
                             "-Wl,-soname," + fs::path(options.outputPath).filename().string()});
#ifdef CNNC_SANITIZER_LINK
    // A sanitized build's runtime: the sanitizers' own symbols come from the
    // (sanitized) process that loads the library.
    link.push_back(CNNC_SANITIZER_LINK);
#else
    link.push_back("-Wl,--no-undefined");
#endif
    link.insert(link.end(), {"-lpthread", "-ldl", "-lm"});
    try {
        run(link);
        if (!weights.path.empty()) checkEmbeddedWeights(tmpOut, graph.name, options.embeddedWeights);
    } catch (...) {
        std::error_code ec;
        fs::remove(tmpOut, ec);
        throw;
    }
    fs::rename(tmpOut, options.outputPath);
    return stats;
}

} // namespace cnnc
