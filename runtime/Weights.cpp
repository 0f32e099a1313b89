// cnnrt: loading and saving parameters as safetensors files.
//
// Format: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {string: string}}
// then the data buffer; offsets are relative to its start and must index it fully.
//
// A checkpoint (cnnrt_save_checkpoint) is the same file plus the training state, in
// tensors whose names start with "__optim__." (plain weight loading skips them):
//   __optim__.kind        I64 [1]  0 = SGD, 1 = Adam
//   __optim__.hparams     F32 [6]  lr, momentum, beta1, beta2, eps, weight_decay
//                                  (the kind's unused slots hold their defaults)
//   __optim__.step        I64 [1]  optimiser steps since it was set (Adam's bias correction)
//   __optim__.train_step  I64 [1]  successful train_steps (the dropout seed's counter)
//   __optim__.momentum.<param>                            SGD with momentum != 0, step > 0
//   __optim__.exp_avg.<param>, __optim__.exp_avg_sq.<param>   Adam, step > 0
// The moment buffers (F32, the parameter's shape) exist for exactly the parameters the
// optimiser updates (learned, not derived, with a GRAD tensor), and only then.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/Internal.h"
#include "runtime/Json.h"
#include "runtime/Runtime.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cnnrt's safetensors I/O assumes a little-endian host"
#endif

namespace cnnrt {
namespace {

// Names the network defines but this build does not use (parts removed by the
// compiler, such as auxiliary heads at inference): accepted and skipped.
bool is_ignored(const cnnrt_model_desc *d, const std::string &name) {
    if (!d->ignored_params) return false;
    for (int i = 0; i < d->num_ignored_params; ++i)
        if (d->ignored_params[i] && name == d->ignored_params[i]) return true;
    return false;
}


constexpr uint64_t kMaxHeader = 100u * 1000u * 1000u;  // 100 MB

std::string errno_text() { return std::strerror(errno); }

std::string shape_text(const std::vector<uint64_t> &s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(s[i]);
    }
    return out + "]";
}

bool ends_with(const std::string &s, const char *suffix) {
    size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

struct File {
    FILE *f = nullptr;
    ~File() {
        if (f) std::fclose(f);
    }
};

// Reads exactly n bytes at absolute offset off.
void read_at(FILE *f, uint64_t off, void *dst, size_t n, const std::string &path) {
    if (fseeko(f, off_t(off), SEEK_SET) != 0)
        throw Error("cannot seek in '" + path + "': " + errno_text());
    if (n && std::fread(dst, 1, n, f) != n) {
        if (std::ferror(f)) throw Error("cannot read '" + path + "': " + errno_text());
        throw Error("'" + path + "' is truncated");
    }
}

struct Range {
    uint64_t begin, end;
    std::string name;
};

const char kOptimPrefix[] = "__optim__.";

bool is_optim_name(const std::string &name) { return name.rfind(kOptimPrefix, 0) == 0; }

// An __optim__.* entry of a checkpoint, checked generically but not yet interpreted.
struct OptimEntry {
    std::string dtype;
    std::vector<uint64_t> dims;
    uint64_t begin;
};

// The moment buffers optimiser `o` holds, by tensor name suffix: (name, parameter, slot).
struct StateTensor {
    std::string name;
    int param;
    int slot;  // 1: buf1, 2: buf2
};

std::vector<StateTensor> state_tensors(const cnnrt_model_desc *d, const cnnrt_optimizer &o) {
    std::vector<StateTensor> out;
    if (o.step == 0) return out;
    const std::vector<bool> has_grad = params_with_grad(d);
    for (int i = 0; i < d->num_params; ++i) {
        if (!has_grad[size_t(i)] || !is_trainable(d->params[i])) continue;
        const std::string p = d->params[i].name;
        if (o.kind == cnnrt_optimizer::SGD) {
            if (o.momentum != 0.0f) out.push_back({kOptimPrefix + ("momentum." + p), i, 1});
        } else {
            out.push_back({kOptimPrefix + ("exp_avg." + p), i, 1});
            out.push_back({kOptimPrefix + ("exp_avg_sq." + p), i, 2});
        }
    }
    return out;
}

// Loads weights (checkpoint false: __optim__.* entries are skipped) or a checkpoint
// (weights and training state) from `file` of `file_size` bytes, named `path` in
// messages. All or nothing.
void load_stream(cnnrt_model *model, FILE *f, uint64_t file_size, const std::string &path, bool checkpoint) {
    const cnnrt_model_desc *d = model->desc;
    // Serialised with train_step, so a step in flight cannot overwrite what is loaded.
    std::lock_guard<std::mutex> train_lock(model->train_mutex);
    if (file_size < 8)
        throw Error("'" + path + "' is too short to be a safetensors file (" +
                    std::to_string(file_size) + " bytes)");

    unsigned char len_bytes[8];
    read_at(f, 0, len_bytes, 8, path);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
    if (header_len > kMaxHeader)
        throw Error("'" + path + "' has an absurd header length " + std::to_string(header_len) +
                    " (> 100 MB); not a safetensors file?");
    if (header_len > file_size - 8)
        throw Error("'" + path + "' header length " + std::to_string(header_len) +
                    " exceeds the file size " + std::to_string(file_size) + " (truncated?)");
    if (header_len < 2) throw Error("'" + path + "' has an empty header");

    std::string header(size_t(header_len), '\0');
    read_at(f, 8, header.data(), header.size(), path);
    json::Value root;
    std::string jerr;
    if (!json::parse(header.data(), header.size(), root, jerr))
        throw Error("'" + path + "' has an invalid JSON header: " + jerr);
    if (root.kind != json::Value::Object)
        throw Error("'" + path + "' header is not a JSON object");

    const uint64_t data_start = 8 + header_len;
    const uint64_t data_size = file_size - data_start;

    std::unordered_map<std::string, int> index;
    // Derived parameters are computed, never stored: a file holding one is unexpected.
    for (int i = 0; i < d->num_params; ++i)
        if (!is_derived(d->params[i])) index.emplace(d->params[i].name, i);

    std::vector<Range> ranges;
    std::vector<uint64_t> begin_of(size_t(d->num_params), 0);
    std::vector<bool> seen(size_t(d->num_params), false);
    std::unordered_map<std::string, OptimEntry> optim;
    for (const auto &[name, entry] : root.members) {
        const std::string t = "tensor '" + name + "'";
        if (name == "__metadata__") {
            if (entry.kind != json::Value::Object)
                throw Error("'" + path + "' __metadata__ is not an object");
            for (const auto &m : entry.members)
                if (m.second.kind != json::Value::String)
                    throw Error("'" + path + "' __metadata__ value for '" + m.first +
                                "' is not a string");
            continue;
        }
        if (entry.kind != json::Value::Object) throw Error(t + " entry is not a JSON object");
        const json::Value *dtype = entry.find("dtype");
        const json::Value *shape = entry.find("shape");
        const json::Value *offs = entry.find("data_offsets");
        if (!dtype || dtype->kind != json::Value::String)
            throw Error(t + " has no string 'dtype'");
        if (!shape || shape->kind != json::Value::Array) throw Error(t + " has no 'shape' array");
        if (!offs || offs->kind != json::Value::Array || offs->items.size() != 2)
            throw Error(t + " has no 'data_offsets' pair");
        for (const auto &m : entry.members)
            if (m.first != "dtype" && m.first != "shape" && m.first != "data_offsets")
                throw Error(t + " has an unknown field '" + m.first + "'");
        std::vector<uint64_t> dims;
        for (const auto &item : shape->items) {
            uint64_t v;
            if (!item.as_u64(v)) throw Error(t + " has an invalid shape");
            dims.push_back(v);
        }
        uint64_t b, e;
        if (!offs->items[0].as_u64(b) || !offs->items[1].as_u64(e))
            throw Error(t + " has invalid data_offsets");
        if (e < b)
            throw Error(t + " has data_offsets [" + std::to_string(b) + ", " +
                        std::to_string(e) + "] with end < begin");
        if (e > data_size)
            throw Error(t + " has data_offsets [" + std::to_string(b) + ", " +
                        std::to_string(e) + "] beyond the " + std::to_string(data_size) +
                        "-byte data buffer (file truncated?)");
        ranges.push_back({b, e, name});
        if (is_optim_name(name)) {  // training state: only checkpoints read it
            if (checkpoint) optim.emplace(name, OptimEntry{dtype->text, dims, b});
            continue;
        }
        if (ends_with(name, "num_batches_tracked")) continue;  // PyTorch bookkeeping
        if (is_ignored(d, name)) continue;  // e.g. an aux head's weights in an inference build

        auto it = index.find(name);
        if (it == index.end()) throw Error("unexpected " + t);
        const int pi = it->second;
        const cnnrt_param_desc &p = d->params[pi];
        if (dtype->text != "F32")
            throw Error(t + " has dtype " + dtype->text + ", expected F32");
        std::vector<uint64_t> want(p.shape, p.shape + p.rank);
        if (dims != want)
            throw Error(t + " has shape " + shape_text(dims) + ", expected " + shape_text(want));
        const uint64_t bytes = uint64_t(param_numel(p)) * 4;
        if (e - b != bytes)
            throw Error(t + " has " + std::to_string(e - b) + " bytes of data, expected " +
                        std::to_string(bytes));
        seen[size_t(pi)] = true;
        begin_of[size_t(pi)] = b;
    }
    for (int i = 0; i < d->num_params; ++i)
        if (!seen[size_t(i)] && !is_derived(d->params[i]))
            throw Error("missing tensor '" + std::string(d->params[i].name) + "'");

    // The data buffer must be indexed exactly: no overlaps, no gaps, nothing trailing.
    std::sort(ranges.begin(), ranges.end(), [](const Range &x, const Range &y) {
        return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
    });
    uint64_t cursor = 0;
    const Range *prev = nullptr;
    for (const Range &r : ranges) {
        if (r.begin == r.end) continue;
        if (r.begin < cursor)
            throw Error("tensors '" + prev->name + "' and '" + r.name + "' overlap in '" + path +
                        "'");
        if (r.begin > cursor)
            throw Error("'" + path + "' has " + std::to_string(r.begin - cursor) +
                        " unindexed bytes before tensor '" + r.name + "' (corrupt file?)");
        cursor = r.end;
        prev = &r;
    }
    if (cursor != data_size)
        throw Error("'" + path + "' has " + std::to_string(data_size - cursor) +
                    " unindexed trailing bytes (corrupt file?)");

    // Stage, then swap: a failure above or below leaves the model's weights unchanged.
    auto staging = std::make_shared<cnnrt_model::Weights>(size_t(d->num_params));
    for (int i = 0; i < d->num_params; ++i) {
        std::vector<float> &v = (*staging)[size_t(i)];
        v.resize(size_t(param_numel(d->params[i])));
        if (is_derived(d->params[i])) continue;
        read_at(f, data_start + begin_of[size_t(i)], v.data(), v.size() * sizeof(float),
                path);
    }
    // Derived parameters: at the first infer call with the set (prepare_weights).

    cnnrt_optimizer opt;
    uint64_t train_steps = 0;
    if (checkpoint) {
        auto take = [&](const std::string &name, const char *dtype,
                        const std::vector<uint64_t> &dims) -> uint64_t {
            auto it = optim.find(name);
            if (it == optim.end())
                throw Error("'" + path + "' is not a checkpoint of this model: missing tensor '" +
                            name + "'");
            const OptimEntry &e = it->second;
            if (e.dtype != dtype)
                throw Error("tensor '" + name + "' has dtype " + e.dtype + ", expected " + dtype);
            if (e.dims != dims)
                throw Error("tensor '" + name + "' has shape " + shape_text(e.dims) +
                            ", expected " + shape_text(dims));
            const uint64_t begin = data_start + e.begin;
            optim.erase(it);  // byte counts were checked against dtype below by the caller
            return begin;
        };
        auto read_i64 = [&](const std::string &name) {
            int64_t v = 0;
            read_at(f, take(name, "I64", {1}), &v, sizeof v, path);
            if (v < 0) throw Error("tensor '" + name + "' is negative");
            return v;
        };
        // Byte counts of the __optim__ entries, checked before anything is read.
        for (const auto &[name, e] : optim) {
            uint64_t n = 1;
            for (uint64_t x : e.dims) n = x && n > UINT64_MAX / 8 / x ? UINT64_MAX / 8 : n * x;
            if (e.dtype != "I64" && e.dtype != "F32")
                throw Error("tensor '" + name + "' has dtype " + e.dtype + ", expected F32 or I64");
            const uint64_t elem = e.dtype == "I64" ? 8 : 4;
            const Range *r = nullptr;
            for (const Range &x : ranges)
                if (x.name == name) r = &x;
            if (!r || r->end - r->begin != n * elem)
                throw Error("tensor '" + name + "' has " +
                            std::to_string(r ? r->end - r->begin : 0) + " bytes of data, expected " +
                            std::to_string(n * elem));
        }
        const int64_t kind = read_i64(std::string(kOptimPrefix) + "kind");
        if (kind != cnnrt_optimizer::SGD && kind != cnnrt_optimizer::ADAM)
            throw Error("tensor '__optim__.kind' holds an unknown optimiser kind " +
                        std::to_string(kind));
        opt.kind = int(kind);
        float h[6];
        read_at(f, take(std::string(kOptimPrefix) + "hparams", "F32", {6}), h, sizeof h, path);
        opt.lr = h[0], opt.momentum = h[1], opt.beta1 = h[2], opt.beta2 = h[3], opt.eps = h[4],
        opt.weight_decay = h[5];
        try {
            validate_optimizer(opt);
        } catch (const Error &e) {
            throw Error("'" + path + "' has invalid optimiser hyper-parameters: " + e.msg);
        }
        opt.step = read_i64(std::string(kOptimPrefix) + "step");
        train_steps = uint64_t(read_i64(std::string(kOptimPrefix) + "train_step"));
        opt.buf1.assign(size_t(d->num_params), {});
        opt.buf2.assign(size_t(d->num_params), {});
        for (const StateTensor &st : state_tensors(d, opt)) {
            const cnnrt_param_desc &p = d->params[st.param];
            std::vector<float> &v = (st.slot == 1 ? opt.buf1 : opt.buf2)[size_t(st.param)];
            v.resize(size_t(param_numel(p)));
            read_at(f, take(st.name, "F32", std::vector<uint64_t>(p.shape, p.shape + p.rank)),
                    v.data(), v.size() * sizeof(float), path);
            if (st.slot == 2)
                for (float x : v)
                    if (!(x >= 0.0f))
                        throw Error("tensor '" + st.name + "' holds a negative or NaN value");
        }
        if (!optim.empty())
            throw Error("unexpected tensor '" + optim.begin()->first + "' for a " +
                        (opt.kind == cnnrt_optimizer::SGD ? "SGD" : "Adam") +
                        " optimiser at step " + std::to_string(opt.step));
    }

    model->publish(std::move(staging));
    if (checkpoint) {
        model->optimizer = std::move(opt);
        model->train_steps = train_steps;
    }
}

void load(cnnrt_model *model, const char *path_c, bool checkpoint) {
    if (!model) throw Error("model is NULL");
    if (!path_c) throw Error("path is NULL");
    if (checkpoint) require_training(model->desc);
    const std::string path = path_c;
    File file;
    file.f = std::fopen(path_c, "rb");
    if (!file.f) throw Error("cannot open '" + path + "': " + errno_text());
    struct stat st;
    if (fstat(fileno(file.f), &st) != 0) throw Error("cannot stat '" + path + "': " + errno_text());
    if (!S_ISREG(st.st_mode)) throw Error("'" + path + "' is not a regular file");
    load_stream(model, file.f, uint64_t(st.st_size), path, checkpoint);
}

// Removes the temporary file unless released.
struct TempFile {
    std::string path;
    int fd = -1;
    bool keep = false;
    ~TempFile() {
        if (fd >= 0) ::close(fd);
        if (!keep && !path.empty()) ::unlink(path.c_str());
    }
};

void write_all(int fd, const void *data, size_t n, const std::string &path) {
    const char *p = static_cast<const char *>(data);
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            throw Error("cannot write '" + path + "': " + errno_text());
        }
        p += w;
        n -= size_t(w);
    }
}

// One tensor of a file being written.
struct OutTensor {
    std::string name;
    const char *dtype;
    std::vector<int64_t> shape;
    const void *data;
    uint64_t bytes;
};

// Saves the weights, plus the training state when `checkpoint`. Atomic: a temporary file
// renamed over `path`.
void save(const cnnrt_model *model, const char *path_c, bool checkpoint) {
    if (!model) throw Error("model is NULL");
    if (!path_c) throw Error("path is NULL");
    const std::string path = path_c;
    if (path.empty()) throw Error("path is empty");
    const cnnrt_model_desc *d = model->desc;
    if (checkpoint) require_training(d);
    // A checkpoint's weights and optimiser state must come from the same step.
    std::unique_lock<std::mutex> train_lock(model->train_mutex, std::defer_lock);
    if (checkpoint) train_lock.lock();
    const HeldWeights held(model);
    const std::shared_ptr<const cnnrt_model::Weights> &weights = held.get();

    std::vector<OutTensor> out;
    for (int i = 0; i < d->num_params; ++i) {
        const cnnrt_param_desc &p = d->params[i];
        if (is_derived(p)) continue;
        const std::vector<float> &v = (*weights)[size_t(i)];
        out.push_back({p.name, "F32", std::vector<int64_t>(p.shape, p.shape + p.rank), v.data(),
                       uint64_t(v.size()) * 4});
    }
    const cnnrt_optimizer &o = model->optimizer;
    const int64_t kind = o.kind, step = o.step, train_step = int64_t(model->train_steps);
    const float hparams[6] = {o.lr, o.momentum, o.beta1, o.beta2, o.eps, o.weight_decay};
    if (checkpoint) {
        out.push_back({std::string(kOptimPrefix) + "kind", "I64", {1}, &kind, 8});
        out.push_back({std::string(kOptimPrefix) + "hparams", "F32", {6}, hparams, sizeof hparams});
        out.push_back({std::string(kOptimPrefix) + "step", "I64", {1}, &step, 8});
        out.push_back({std::string(kOptimPrefix) + "train_step", "I64", {1}, &train_step, 8});
        for (const StateTensor &st : state_tensors(d, o)) {
            const cnnrt_param_desc &p = d->params[st.param];
            const std::vector<float> &v = (st.slot == 1 ? o.buf1 : o.buf2)[size_t(st.param)];
            if (v.size() != size_t(param_numel(p)))
                throw Error("internal error: optimiser state of " + std::string(p.name) +
                            " is missing");
            out.push_back({st.name, "F32", std::vector<int64_t>(p.shape, p.shape + p.rank),
                           v.data(), uint64_t(v.size()) * 4});
        }
    }
    std::sort(out.begin(), out.end(),
              [](const OutTensor &a, const OutTensor &b) { return a.name < b.name; });

    std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
    uint64_t offset = 0;
    for (const OutTensor &t : out) {
        header += ',';
        json::append_quoted(header, t.name.c_str());
        header += ":{\"dtype\":\"" + std::string(t.dtype) + "\",\"shape\":[";
        for (size_t k = 0; k < t.shape.size(); ++k) {
            if (k) header += ',';
            header += std::to_string(t.shape[k]);
        }
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
                  std::to_string(offset + t.bytes) + "]}";
        offset += t.bytes;
    }
    header += '}';
    while ((8 + header.size()) % 8 != 0) header += ' ';  // align the data buffer

    static std::atomic<uint64_t> counter{0};
    TempFile tmp;
    tmp.path = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (tmp.fd < 0) {
        int e = errno;
        tmp.path.clear();  // not ours: nothing to remove
        throw Error("cannot create '" + path + ".tmp.*': " + std::strerror(e));
    }
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = (unsigned char)(uint64_t(header.size()) >> (8 * i));
    write_all(tmp.fd, len_bytes, 8, tmp.path);
    write_all(tmp.fd, header.data(), header.size(), tmp.path);
    for (const OutTensor &t : out) write_all(tmp.fd, t.data, size_t(t.bytes), tmp.path);
    if (::fsync(tmp.fd) != 0) throw Error("cannot sync '" + tmp.path + "': " + errno_text());
    int fd = tmp.fd;
    tmp.fd = -1;
    if (::close(fd) != 0) throw Error("cannot close '" + tmp.path + "': " + errno_text());
    if (::rename(tmp.path.c_str(), path_c) != 0)
        throw Error("cannot rename '" + tmp.path + "' to '" + path + "': " + errno_text());
    tmp.keep = true;
    // Make the rename itself durable (best effort).
    std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
    if (dir.empty()) dir = "/";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace

// The weights compiled into the library (cnnc --weights, or an ONNX model's
// initializers): the same checks as a file's.
void load_embedded_weights(cnnrt_model *model) {
    const cnnrt_model_desc *d = model->desc;
    File file;
    file.f = fmemopen(const_cast<unsigned char *>(d->embedded_weights), size_t(d->embedded_weights_size), "rb");
    if (!file.f) throw Error("cannot read the library's embedded weights: " + errno_text());
    load_stream(model, file.f, d->embedded_weights_size, "the library's embedded weights", false);
}

}  // namespace cnnrt

extern "C" {

int cnnrt_load_weights(cnnrt_model *model, const char *path) {
    return cnnrt::guarded([&] { cnnrt::load(model, path, false); });
}

int cnnrt_save_weights(const cnnrt_model *model, const char *path) {
    return cnnrt::guarded([&] { cnnrt::save(model, path, false); });
}

int cnnrt_save_checkpoint(const cnnrt_model *model, const char *path) {
    return cnnrt::guarded([&] { cnnrt::save(model, path, true); });
}

int cnnrt_load_checkpoint(cnnrt_model *model, const char *path) {
    return cnnrt::guarded([&] { cnnrt::load(model, path, true); });
}

}  // extern "C"
