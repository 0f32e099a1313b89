// Unit tests for the cnnrt runtime, with a hand-made model (see TestModel.h).
#include <gtest/gtest.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif
#include <dirent.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/Data.h"
#include "runtime/Internal.h"
#include "runtime/Runtime.h"
#include "tests/runtime/TestModel.h"

using namespace testmodel;

// Stand-in for Halide's runtime: the runtime installs its error handler through this.
static halide_error_handler_t g_handler = nullptr;
extern "C" halide_error_handler_t halide_set_error_handler(halide_error_handler_t h) {
    halide_error_handler_t old = g_handler;
    g_handler = h;
    return old;
}

namespace {

// ---------------------------------------------------------------- helpers

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/cnnrt_test_XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
    std::string file(const std::string &name) const { return path + "/" + name; }
};

std::vector<std::string> list_dir(const std::string &dir) {
    std::vector<std::string> out;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d))
            if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
                out.push_back(e->d_name);
        closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string &path, const std::string &bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string u64le(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xFF);
    return s;
}

std::string with_header(const std::string &json, const std::string &data) {
    return u64le(json.size()) + json + data;
}

struct Entry {
    std::string name, dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
};

std::string header_json(const std::vector<Entry> &entries) {
    std::string j = "{\"__metadata__\":{\"format\":\"pt\"}";
    for (const Entry &e : entries) {
        j += ",\"" + e.name + "\":{\"dtype\":\"" + e.dtype + "\",\"shape\":[";
        for (size_t i = 0; i < e.shape.size(); ++i) j += (i ? "," : "") + std::to_string(e.shape[i]);
        j += "],\"data_offsets\":[" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]}";
    }
    return j + "}";
}

// The correct entries for the test model, packed in desc order.
std::vector<Entry> good_entries() {
    std::vector<Entry> v;
    uint64_t off = 0;
    for (const cnnrt_param_desc &p : kParams) {
        Entry e{p.name, "F32", {}, off, 0};
        uint64_t n = 1;
        for (int k = 0; k < p.rank; ++k) e.shape.push_back(p.shape[k]), n *= uint64_t(p.shape[k]);
        off += 4 * n;
        e.end = off;
        v.push_back(e);
    }
    return v;
}

constexpr size_t kTotalFloats = C + C + OUT * IN + OUT;

std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> d(-2.f, 2.f);
    std::vector<float> v(n);
    for (float &x : v) x = d(g);
    return v;
}

std::string float_bytes(const std::vector<float> &v) {
    return std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(float));
}

// A valid file with the given values (desc order, concatenated).
std::string good_file(const std::vector<float> &values) {
    return with_header(header_json(good_entries()), float_bytes(values));
}

struct Model {
    cnnrt_model *m;
    explicit Model(const cnnrt_model_desc *d = &kDesc) : m(cnnrt_create(d)) {}
    ~Model() { cnnrt_destroy(m); }
    operator cnnrt_model *() const { return m; }
};

// The parameters as inference reads them: derived ones (which a train_step
// leaves to the next infer call) brought up to date first.
std::vector<std::vector<float>> params_of(cnnrt_model *m) {
    std::shared_ptr<const cnnrt_model::Weights> w = m->snapshot();
    cnnrt::prepare_weights(m, w);
    return *w;
}
// As stored, derived ones possibly stale.
std::vector<std::vector<float>> stored_params_of(cnnrt_model *m) { return *m->snapshot(); }

std::string err() { return cnnrt_last_error(); }

// ---------------------------------------------------------------- create

TEST(Create, DeterministicAndWithinFanInBound) {
    Model a, b;
    ASSERT_NE(a.m, nullptr) << err();
    ASSERT_NE(b.m, nullptr) << err();
    EXPECT_EQ(params_of(a), params_of(b));
    auto p = params_of(a);
    ASSERT_EQ(p.size(), 4u);
    for (float x : p[0]) EXPECT_EQ(x, 1.0f);
    for (float x : p[1]) EXPECT_EQ(x, 0.0f);
    const float bound = float(1.0 / std::sqrt(double(IN)));
    for (int i : {2, 3}) {
        float lo = 1, hi = -1;
        for (float x : p[size_t(i)]) {
            EXPECT_LE(std::fabs(x), bound);
            lo = std::min(lo, x), hi = std::max(hi, x);
        }
        if (i == 2) {  // 120 samples: both signs
            EXPECT_LT(lo, 0.0f);
            EXPECT_GT(hi, 0.0f);
        }
    }
    // 120 samples of U(-b, b) should spread out.
    float mx = 0;
    for (float x : p[2]) mx = std::max(mx, std::fabs(x));
    EXPECT_GT(mx, 0.8f * bound);
    // Different parameters get different streams.
    EXPECT_NE(std::vector<float>(p[2].begin(), p[2].begin() + OUT), p[3]);
}

TEST(Create, FixedValuesDoNotChangeSilently) {
    // The init is part of the file format's reproducibility story: pin a few values.
    Model a;
    ASSERT_NE(a.m, nullptr) << err();
    auto p = params_of(a);
    Model c;
    EXPECT_EQ(p[2][0], params_of(c)[2][0]);
    EXPECT_NE(p[2][0], p[2][1]);
}

TEST(Create, RejectsBadDescs) {
    EXPECT_EQ(cnnrt_create(nullptr), nullptr);
    EXPECT_EQ(err(), "desc is NULL");

    cnnrt_model_desc d = kDesc;
    d.result_tensor = 99;
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("result_tensor"), std::string::npos) << err();

    d = kDesc;
    d.arena_floats_per_sample = IN;  // act1 lies past the end
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("outside the activation arena"), std::string::npos) << err();

    cnnrt_param_desc params[4];
    std::copy(std::begin(kParams), std::end(kParams), params);
    params[3].name = "fc.weight";
    d = kDesc;
    d.params = params;
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("duplicate"), std::string::npos) << err();

    std::copy(std::begin(kParams), std::end(kParams), params);
    params[2].fan_in = 0;
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("fan_in"), std::string::npos) << err();

    std::copy(std::begin(kParams), std::end(kParams), params);
    params[0].rank = 5;
    EXPECT_EQ(cnnrt_create(&d), nullptr);

    const int bad_args[] = {0, 1, 2, 42};
    cnnrt_kernel_desc kernels[2] = {kKernels[0], kKernels[1]};
    kernels[1].args = bad_args;
    d = kDesc;
    d.kernels = kernels;
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("missing tensor"), std::string::npos) << err();

    cnnrt_tensor_desc tensors[8];
    std::copy(std::begin(kTensors), std::end(kTensors), tensors);
    tensors[0].dims[0] = 5;  // input tensor no longer matches input_dims
    d = kDesc;
    d.tensors = tensors;
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("input"), std::string::npos) << err();
}

TEST(Api, TrivialQueries) {
    int dims[3] = {0, 0, 0};
    EXPECT_EQ(cnnrt_input_dims(&kDesc, dims), 0);
    EXPECT_EQ(dims[0], C);
    EXPECT_EQ(dims[1], H);
    EXPECT_EQ(dims[2], W);
    EXPECT_NE(cnnrt_input_dims(&kDesc, nullptr), 0);
    EXPECT_EQ(err(), "dims is NULL");
    EXPECT_NE(cnnrt_input_dims(nullptr, dims), 0);
    EXPECT_EQ(err(), "desc is NULL");
    EXPECT_EQ(cnnrt_output_size(&kDesc), OUT);
    EXPECT_EQ(cnnrt_output_size(nullptr), -1);
    cnnrt_destroy(nullptr);  // no-op
    // No Halide runtime linked here: reported, not crashed.
    EXPECT_EQ(cnnrt_set_num_threads(2), -1);
    EXPECT_NE(cnnrt_set_num_threads(-1), 0);
}

TEST(Api, NullPointers) {
    Model m;
    ASSERT_NE(m.m, nullptr);
    std::vector<float> in(IN), out(OUT);
    EXPECT_NE(cnnrt_infer(nullptr, in.data(), 1, out.data()), 0);
    EXPECT_EQ(err(), "model is NULL");
    EXPECT_NE(cnnrt_infer(m, nullptr, 1, out.data()), 0);
    EXPECT_EQ(err(), "input is NULL");
    EXPECT_NE(cnnrt_infer(m, in.data(), 1, nullptr), 0);
    EXPECT_EQ(err(), "output is NULL");
    EXPECT_NE(cnnrt_load_weights(nullptr, "x"), 0);
    EXPECT_EQ(err(), "model is NULL");
    EXPECT_NE(cnnrt_load_weights(m, nullptr), 0);
    EXPECT_EQ(err(), "path is NULL");
    EXPECT_NE(cnnrt_save_weights(nullptr, "x"), 0);
    EXPECT_EQ(err(), "model is NULL");
    EXPECT_NE(cnnrt_save_weights(m, nullptr), 0);
    EXPECT_EQ(err(), "path is NULL");
}

TEST(Api, LastErrorIsPerThread) {
    EXPECT_NE(cnnrt_infer(nullptr, nullptr, 1, nullptr), 0);
    EXPECT_EQ(err(), "model is NULL");
    std::string other = "unset";
    std::thread([&] { other = cnnrt_last_error(); }).join();
    EXPECT_EQ(other, "");
}

// ---------------------------------------------------------------- infer

void check_infer(const cnnrt_model_desc *desc, int batch) {
    Model m(desc);
    ASSERT_NE(m.m, nullptr) << err();
    TempDir dir;
    write_file(dir.file("w.safetensors"), good_file(random_floats(kTotalFloats, 7)));
    ASSERT_EQ(cnnrt_load_weights(m, dir.file("w.safetensors").c_str()), 0) << err();
    std::vector<float> in = random_floats(size_t(batch) * IN, uint32_t(100 + batch));
    // Guard bands around the output catch writes outside the caller's buffer.
    std::vector<float> out(size_t(batch) * OUT + 64, -12345.f);
    ASSERT_EQ(cnnrt_infer(m, in.data(), batch, out.data() + 32), 0) << err();
    auto want = reference(params_of(m), in, batch);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(out[32 + i], want[i], 1e-5f) << i;
    for (size_t i = 0; i < 32; ++i) {
        EXPECT_EQ(out[i], -12345.f);
        EXPECT_EQ(out[out.size() - 1 - i], -12345.f);
    }
}

TEST(Infer, MatchesNaiveBatch1) { check_infer(&kDesc, 1); }
TEST(Infer, MatchesNaiveBatch7) { check_infer(&kDesc, 7); }
TEST(Infer, DirectOutputBatch1) { check_infer(&kDescDirect, 1); }
TEST(Infer, DirectOutputBatch7) { check_infer(&kDescDirect, 7); }

TEST(Infer, DefaultWeightsWork) {
    Model m;
    std::vector<float> in = random_floats(3 * IN, 5), out(3 * OUT);
    ASSERT_EQ(cnnrt_infer(m, in.data(), 3, out.data()), 0) << err();
    auto want = reference(params_of(m), in, 3);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-5f);
}

TEST(Infer, BadBatch) {
    Model m;
    std::vector<float> in(IN), out(OUT);
    EXPECT_NE(cnnrt_infer(m, in.data(), 0, out.data()), 0);
    EXPECT_EQ(err(), "batch must be >= 1, got 0");
    EXPECT_NE(cnnrt_infer(m, in.data(), -3, out.data()), 0);
    EXPECT_EQ(err(), "batch must be >= 1, got -3");
    // Would overflow Halide's int32 extents: rejected before touching memory.
    EXPECT_NE(cnnrt_infer(m, in.data(), INT32_MAX, out.data()), 0);
    EXPECT_NE(err().find("too large"), std::string::npos) << err();
}

TEST(Infer, ConcurrentCallsAgree) {
    Model m;
    ASSERT_NE(m.m, nullptr);
    const int batch = 5;
    std::vector<float> in = random_floats(batch * IN, 11);
    std::vector<float> want(batch * OUT);
    ASSERT_EQ(cnnrt_infer(m, in.data(), batch, want.data()), 0);
    std::atomic<int> mismatches{0}, failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            std::vector<float> out(batch * OUT);
            for (int it = 0; it < 300; ++it) {
                if (cnnrt_infer(m, in.data(), batch, out.data()) != 0) ++failures;
                if (out != want) ++mismatches;
            }
        });
    for (auto &t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(mismatches.load(), 0);
}

TEST(Infer, LoadDuringInferIsAllOrNothing) {
    Model m;
    TempDir dir;
    const std::string fa = dir.file("a.safetensors"), fb = dir.file("b.safetensors");
    write_file(fa, good_file(random_floats(kTotalFloats, 21)));
    write_file(fb, good_file(random_floats(kTotalFloats, 22)));
    const int batch = 2;
    std::vector<float> in = random_floats(batch * IN, 23), want_a(batch * OUT), want_b(batch * OUT);
    ASSERT_EQ(cnnrt_load_weights(m, fb.c_str()), 0) << err();
    ASSERT_EQ(cnnrt_infer(m, in.data(), batch, want_b.data()), 0);
    ASSERT_EQ(cnnrt_load_weights(m, fa.c_str()), 0) << err();
    ASSERT_EQ(cnnrt_infer(m, in.data(), batch, want_a.data()), 0);
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t)
        readers.emplace_back([&] {
            std::vector<float> out(batch * OUT);
            while (!stop)
                if (cnnrt_infer(m, in.data(), batch, out.data()) != 0 ||
                    (out != want_a && out != want_b))
                    ++bad;
        });
    for (int i = 0; i < 200; ++i)
        if (cnnrt_load_weights(m, (i % 2 ? fa : fb).c_str()) != 0) ++bad;
    stop = true;
    for (auto &t : readers) t.join();
    EXPECT_EQ(bad.load(), 0);
}

TEST(Infer, ResultIsAChannelSlice) {
    // act1 lives 3 floats into a 12-float-per-sample block (an in-place concat slice).
    cnnrt_tensor_desc tensors[8];
    std::copy(std::begin(kTensors), std::end(kTensors), tensors);
    tensors[6].inner_offset = 3;
    tensors[6].sample_stride = OUT + 7;
    cnnrt_model_desc d = kDesc;
    d.tensors = tensors;
    d.arena_floats_per_sample = IN + OUT + 7;
    for (int batch : {1, 4}) {
        Model m(&d), ref;
        ASSERT_NE(m.m, nullptr) << err();
        std::vector<float> in = random_floats(size_t(batch) * IN, 31), out(size_t(batch) * OUT),
                           want(size_t(batch) * OUT);
        ASSERT_EQ(cnnrt_infer(m, in.data(), batch, out.data()), 0) << err();
        ASSERT_EQ(cnnrt_infer(ref, in.data(), batch, want.data()), 0) << err();
        EXPECT_EQ(out, want);
    }
    tensors[6].inner_offset = 8;  // 8 + 5 > 12
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("inner_offset"), std::string::npos) << err();
}

int k_fail_plain(void **) { return -7; }
int k_fail_halide(void **) {
    if (g_handler) g_handler(nullptr, "Input buffer b0 is accessed at 9, which is beyond the max (3)\n");
    return -5;
}

// A kernel tuned per batch range is a run of entries for one output; each call
// runs the entry for its batch, and the parameters only another range reads
// (here the large-batch entry's blocked filters) are not prepared until a
// call in that range needs them.
std::atomic<int> g_small_calls{0}, g_large_calls{0};
int k_fc_small(void **args) {
    ++g_small_calls;
    return k_fc(args);
}
// args: act0, fc.weight, fc.bias, extra.weight.blocked, act1
int k_fc_large(void **args) {
    ++g_large_calls;
    auto **b = reinterpret_cast<halide_buffer_t **>(args);
    if (!b[3]->host || b[3]->dimensions != 4) return -5;
    void *fc_args[] = {args[0], args[1], args[2], args[4]};
    return k_fc(fc_args);
}

TEST(Infer, BatchRangesPickTheKernelAndPrepareWhatItReads) {
    cnnrt_param_desc params[6];
    std::copy(std::begin(kParams), std::end(kParams), params);
    params[4] = {"extra.weight", 4, {4, 1, 1, 2}, CNNRT_INIT_UNIFORM_FAN_IN, 2, NOT_DERIVED};
    params[5] = {"extra.weight.blocked", 4, {2, 1, 2, 2}, CNNRT_INIT_ZEROS, 1, 0};
    cnnrt_tensor_desc tensors[10];
    std::copy(std::begin(kTensors), std::end(kTensors), tensors);
    tensors[8] = {CNNRT_STORAGE_PARAM, 5, 0, {0, 0, 0}, 0, 0};
    tensors[9] = {CNNRT_STORAGE_PARAM, 4, 0, {0, 0, 0}, 0, 0};
    const int block_args[] = {9, 8};
    const cnnrt_kernel_desc prepare[] = {{"prepare extra.weight.blocked", k_block_filters, 2, block_args}};
    const int large_args[] = {5, 3, 4, 8, 6};
    cnnrt_kernel_desc kernels[3] = {kKernels[0], {"fc [batch<=2]", k_fc_small, 4, kFcArgs, 1, 2},
                                    {"fc [batch>=3]", k_fc_large, 5, large_args, 3, 0}};
    cnnrt_model_desc d = kDesc;
    d.num_params = 6, d.params = params, d.num_tensors = 10, d.tensors = tensors;
    d.num_kernels = 3, d.kernels = kernels;
    d.num_prepare_kernels = 1, d.prepare_kernels = prepare;
    Model m(&d);
    ASSERT_NE(m.m, nullptr) << err();
    const std::vector<float> zeros(8, 0.0f);
    for (int batch : {1, 2, 3, 7, 1}) {
        SCOPED_TRACE("batch " + std::to_string(batch));
        const int small_before = g_small_calls, large_before = g_large_calls;
        std::vector<float> x = random_floats(size_t(batch) * IN, uint32_t(batch)), y(size_t(batch) * OUT);
        ASSERT_EQ(cnnrt_infer(m, x.data(), batch, y.data()), 0) << err();
        EXPECT_EQ(g_small_calls - small_before, batch <= 2 ? 1 : 0);
        EXPECT_EQ(g_large_calls - large_before, batch <= 2 ? 0 : 1);
        std::vector<float> want = reference(stored_params_of(m), x, batch);
        for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want[i], 1e-5) << i;
        auto p = stored_params_of(m);
        if (batch < 3 && g_large_calls == 0) {
            EXPECT_EQ(p[5], zeros);  // only batches >= 3 read it
        } else {
            ASSERT_EQ(p[5].size(), 8u);
            for (int co = 0; co < 4; ++co)
                for (int tap = 0; tap < 2; ++tap)
                    EXPECT_EQ(p[5][size_t((co / 2 * 2 + tap) * 2 + co % 2)], p[4][size_t(co * 2 + tap)]);
        }
    }

    // The ranges must tile 1.. in order, for one output.
    struct Bad {
        int min0, max0, min1, max1;
        const char *why;
    };
    for (Bad bad : {Bad{1, 2, 4, 0, "expected 3"}, Bad{2, 2, 3, 0, "expected 1"}, Bad{1, 2, 3, 5, "ends its batch ranges"},
                    Bad{1, -1, 3, 0, "negative batch bound"}, Bad{3, 2, 3, 0, "empty batch range"}}) {
        SCOPED_TRACE(bad.why);
        kernels[1].min_batch = bad.min0, kernels[1].max_batch = bad.max0;
        kernels[2].min_batch = bad.min1, kernels[2].max_batch = bad.max1;
        EXPECT_EQ(cnnrt_create(&d), nullptr);
        EXPECT_NE(err().find(bad.why), std::string::npos) << err();
    }
    kernels[1].min_batch = 1, kernels[1].max_batch = 2, kernels[2].min_batch = 3, kernels[2].max_batch = 0;
    const int other_output[] = {5, 3, 4, 8, 7};
    kernels[2].args = other_output;
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("another kernel's output"), std::string::npos) << err();
}

TEST(Infer, KernelFailureIsReported) {
    const int args[] = {0, 1, 2, 5};
    cnnrt_kernel_desc kernels[2] = {{"boom", k_fail_plain, 4, args}, kKernels[1]};
    cnnrt_model_desc d = kDesc;
    d.kernels = kernels;
    Model m(&d);
    ASSERT_NE(m.m, nullptr) << err();
    std::vector<float> in(IN), out(OUT);
    EXPECT_NE(cnnrt_infer(m, in.data(), 1, out.data()), 0);
    EXPECT_EQ(err(), "kernel 'boom' failed: Halide error code -7");

    ASSERT_NE(g_handler, nullptr) << "runtime did not install a Halide error handler";
    kernels[0] = {"conv1", k_fail_halide, 4, args};
    EXPECT_NE(cnnrt_infer(m, in.data(), 1, out.data()), 0);
    EXPECT_EQ(err(), "kernel 'conv1' failed: Input buffer b0 is accessed at 9, which is beyond the max (3)");
}

// ---------------------------------------------------------------- save / load

TEST(Weights, SaveLoadRoundTripIsBitIdentical) {
    TempDir dir;
    Model a, b;
    // Give a distinctive weights, including values that must survive bit-exactly.
    std::vector<float> vals = random_floats(kTotalFloats, 3);
    vals[0] = -0.0f;
    vals[1] = 1e-40f;  // denormal
    vals[2] = std::nanf("");
    write_file(dir.file("in.safetensors"), good_file(vals));
    ASSERT_EQ(cnnrt_load_weights(a, dir.file("in.safetensors").c_str()), 0) << err();
    ASSERT_EQ(cnnrt_save_weights(a, dir.file("out.safetensors").c_str()), 0) << err();
    ASSERT_EQ(cnnrt_load_weights(b, dir.file("out.safetensors").c_str()), 0) << err();
    auto pa = params_of(a), pb = params_of(b);
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) {
        ASSERT_EQ(pa[i].size(), pb[i].size());
        EXPECT_EQ(std::memcmp(pa[i].data(), pb[i].data(), pa[i].size() * 4), 0) << i;
    }
    EXPECT_EQ(std::memcmp(pa[0].data(), vals.data(), 4 * C), 0);

    // The written file: aligned data, sorted names, metadata, no temp files left behind.
    std::string f = read_file(dir.file("out.safetensors"));
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(f[size_t(i)]);
    EXPECT_EQ((8 + n) % 8, 0u);
    EXPECT_EQ(f.size(), 8 + n + kTotalFloats * 4);
    std::string header = f.substr(8, n);
    EXPECT_NE(header.find("\"__metadata__\":{\"format\":\"pt\"}"), std::string::npos);
    EXPECT_LT(header.find("\"fc.bias\""), header.find("\"fc.weight\""));
    EXPECT_LT(header.find("\"fc.weight\""), header.find("\"scale.bias\""));
    EXPECT_EQ(list_dir(dir.path), (std::vector<std::string>{"in.safetensors", "out.safetensors"}));

    // Saving over an existing file replaces it.
    ASSERT_EQ(cnnrt_save_weights(b, dir.file("in.safetensors").c_str()), 0) << err();
    EXPECT_EQ(read_file(dir.file("in.safetensors")), f);
}

TEST(Weights, SaveToUnwritablePlacesFailsCleanly) {
    TempDir dir;
    Model m;
    EXPECT_NE(cnnrt_save_weights(m, dir.file("no/such/dir/w.safetensors").c_str()), 0);
    EXPECT_NE(err().find("cannot create"), std::string::npos) << err();
    // Target is a directory: the temp file is written, the rename fails, the temp is removed.
    ASSERT_EQ(mkdir(dir.file("sub").c_str(), 0755), 0);
    EXPECT_NE(cnnrt_save_weights(m, dir.file("sub").c_str()), 0);
    EXPECT_NE(err().find("cannot rename"), std::string::npos) << err();
    EXPECT_EQ(list_dir(dir.path), std::vector<std::string>{"sub"});
    // Read-only directory (permissions do not bind root, so only checked as non-root).
    if (geteuid() != 0) {
        ASSERT_EQ(mkdir(dir.file("ro").c_str(), 0555), 0);
        EXPECT_NE(cnnrt_save_weights(m, dir.file("ro/w.safetensors").c_str()), 0);
        EXPECT_TRUE(list_dir(dir.file("ro")).empty());
        chmod(dir.file("ro").c_str(), 0755);
    }
    EXPECT_NE(cnnrt_save_weights(m, ""), 0);
}

class LoadErrors : public ::testing::Test {
protected:
    TempDir dir;
    Model m;
    std::vector<std::vector<float>> before;
    void SetUp() override {
        ASSERT_NE(m.m, nullptr);
        before = params_of(m);
    }
    // Loads bytes and expects failure whose message contains `want`; weights unchanged.
    void expect_fail(const std::string &bytes, const std::string &want) {
        write_file(dir.file("bad.safetensors"), bytes);
        EXPECT_NE(cnnrt_load_weights(m, dir.file("bad.safetensors").c_str()), 0);
        EXPECT_NE(err().find(want), std::string::npos) << "got: " << err();
        EXPECT_EQ(params_of(m), before);
    }
    std::string data = float_bytes(random_floats(kTotalFloats, 9));
};

TEST_F(LoadErrors, MissingFileAndDirectory) {
    EXPECT_NE(cnnrt_load_weights(m, dir.file("nope.safetensors").c_str()), 0);
    EXPECT_NE(err().find("cannot open"), std::string::npos) << err();
    EXPECT_NE(err().find("nope.safetensors"), std::string::npos) << err();
    EXPECT_NE(cnnrt_load_weights(m, dir.path.c_str()), 0);
    EXPECT_NE(err().find("not a regular file"), std::string::npos) << err();
    EXPECT_EQ(params_of(m), before);
}

TEST_F(LoadErrors, EveryTruncationFailsCleanly) {
    std::string good = with_header(header_json(good_entries()), data);
    for (size_t len = 0; len < good.size(); ++len) {
        write_file(dir.file("t.safetensors"), good.substr(0, len));
        EXPECT_NE(cnnrt_load_weights(m, dir.file("t.safetensors").c_str()), 0) << len;
        EXPECT_FALSE(err().empty());
    }
    EXPECT_EQ(params_of(m), before);
    write_file(dir.file("t.safetensors"), good);
    EXPECT_EQ(cnnrt_load_weights(m, dir.file("t.safetensors").c_str()), 0) << err();
}

TEST_F(LoadErrors, RandomCorruptionNeverCrashes) {
    std::string good = with_header(header_json(good_entries()), data);
    std::mt19937 g(1);
    for (int it = 0; it < 1000; ++it) {
        std::string b = good;
        int flips = 1 + int(g() % 4);
        for (int k = 0; k < flips; ++k) b[g() % (8 + good.size() - data.size())] = char(g());
        write_file(dir.file("c.safetensors"), b);
        if (cnnrt_load_weights(m, dir.file("c.safetensors").c_str()) != 0) {
            EXPECT_FALSE(err().empty());
            EXPECT_EQ(params_of(m), before);
        } else {
            before = params_of(m);
        }
    }
}

TEST_F(LoadErrors, HeaderLength) {
    expect_fail("", "too short");
    expect_fail("abc", "too short");
    expect_fail(u64le(uint64_t(1) << 40) + "{}", "absurd header length");
    expect_fail(u64le(~uint64_t(0)), "absurd header length");
    expect_fail(u64le(1000) + "{}", "exceeds the file size");
}

TEST_F(LoadErrors, InvalidJson) {
    std::string h = header_json(good_entries());
    expect_fail(with_header(h.substr(0, h.size() - 1), data), "invalid JSON");
    expect_fail(with_header("{\"a\":}", ""), "invalid JSON");
    expect_fail(with_header("[1,2]", ""), "not a JSON object");
    expect_fail(with_header(h + "x", data), "invalid JSON");
    expect_fail(with_header(std::string(5000, '[') + std::string(5000, ']'), ""), "too deep");
    expect_fail(with_header("{\"a\\q\":1}", ""), "invalid escape");
    expect_fail(with_header("{\"a\xff\":1}", ""), "UTF-8");
    expect_fail(with_header("{\"a\":01}", ""), "invalid JSON");
    // Duplicate keys, at top level and inside an entry.
    auto e = good_entries();
    e.push_back(e[0]);
    expect_fail(with_header(header_json(e), data), "duplicate key 'scale.weight'");
    std::string dup = h;
    dup.replace(dup.find("\"dtype\":\"F32\""), 13, "\"dtype\":\"F32\",\"dtype\":\"F32\"");
    expect_fail(with_header(dup, data), "duplicate key 'dtype'");
    // Trailing spaces (safetensors' padding) are fine.
    write_file(dir.file("pad.safetensors"), with_header(h + "     ", data));
    EXPECT_EQ(cnnrt_load_weights(m, dir.file("pad.safetensors").c_str()), 0) << err();
}

TEST_F(LoadErrors, TensorEntries) {
    auto e = good_entries();
    e[2].dtype = "F16";
    expect_fail(with_header(header_json(e), data), "tensor 'fc.weight' has dtype F16, expected F32");

    e = good_entries();
    e[2].shape = {OUT, 4, 6};
    expect_fail(with_header(header_json(e), data),
                "tensor 'fc.weight' has shape [5, 4, 6], expected [5, 24]");

    e = good_entries();
    e.erase(e.begin() + 3);
    expect_fail(with_header(header_json(e), data.substr(0, data.size() - 4 * OUT)),
                "missing tensor 'fc.bias'");

    e = good_entries();
    e.push_back({"foo", "F32", {1}, e.back().end, e.back().end + 4});
    expect_fail(with_header(header_json(e), data + "abcd"), "unexpected tensor 'foo'");

    e = good_entries();
    std::swap(e[0].begin, e[0].end);
    expect_fail(with_header(header_json(e), data), "end < begin");

    e = good_entries();
    e[3].end += 4;
    expect_fail(with_header(header_json(e), data), "beyond the");

    e = good_entries();
    e[0].end += 4;  // overlaps scale.bias
    expect_fail(with_header(header_json(e), data), "bytes of data, expected 8");

    e = good_entries();
    e[1].begin = e[0].begin, e[1].end = e[0].end;  // both at [0, 8)
    expect_fail(with_header(header_json(e), data), "overlap");

    e = good_entries();
    expect_fail(with_header(header_json(e), data + "junk"), "4 unindexed trailing bytes");
    e = good_entries();
    for (size_t i = 1; i < e.size(); ++i) e[i].begin += 8, e[i].end += 8;
    expect_fail(with_header(header_json(e), data.substr(0, 8) + "12345678" + data.substr(8)),
                "8 unindexed bytes before tensor 'scale.bias'");

    expect_fail(with_header("{\"fc.bias\":[1,2]}", data), "not a JSON object");
    expect_fail(with_header("{\"fc.bias\":{\"dtype\":\"F32\"}}", data), "'shape'");
    expect_fail(with_header("{\"fc.bias\":{\"dtype\":\"F32\",\"shape\":[-5],\"data_offsets\":[0,20]}}",
                            data), "invalid shape");
    expect_fail(with_header("{\"fc.bias\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,2e1]}}",
                            data), "invalid data_offsets");
    expect_fail(with_header("{\"__metadata__\":{\"a\":1}}", data), "__metadata__");
}

TEST_F(LoadErrors, NumBatchesTrackedIsIgnored) {
    auto e = good_entries();
    uint64_t end = e.back().end;
    e.insert(e.begin(), {"bn.num_batches_tracked", "I64", {}, end, end + 8});
    std::string bytes = with_header(header_json(e), data + std::string(8, '\x01'));
    write_file(dir.file("nbt.safetensors"), bytes);
    EXPECT_EQ(cnnrt_load_weights(m, dir.file("nbt.safetensors").c_str()), 0) << err();
    std::vector<float> got;
    for (auto &v : params_of(m)) got.insert(got.end(), v.begin(), v.end());
    EXPECT_EQ(float_bytes(got), data);
    before = params_of(m);
    // ...but its bytes still have to be in range.
    e[0].end = end + 16;
    expect_fail(with_header(header_json(e), data + std::string(8, '\x01')), "beyond the");
}

// PARAM tensors 1..n for parameters 0..n-1 (tensor 0: the input), as hand-made descs with prepare kernels use.
std::vector<cnnrt_tensor_desc> param_tensors(int n) {
    std::vector<cnnrt_tensor_desc> t{{CNNRT_STORAGE_INPUT, 0, 0, {0, 0, 0}, 0, 0}};
    for (int i = 0; i < n; ++i) t.push_back({CNNRT_STORAGE_PARAM, i, 0, {0, 0, 0}, 0, 0});
    return t;
}

TEST(Weights, FoldedBatchNormIsDerivedNotStored) {
    // conv.weight [2, 3], conv.bias [2], bn.{weight,bias,running_mean,running_var} [2],
    // and the folded weight/bias the kernel would read.
    cnnrt_param_desc params[8] = {
        {"conv.weight", 2, {2, 3, 0, 0}, CNNRT_INIT_UNIFORM_FAN_IN, 3, NOT_DERIVED},
        {"conv.bias", 1, {2, 0, 0, 0}, CNNRT_INIT_UNIFORM_FAN_IN, 3, NOT_DERIVED},
        {"bn.weight", 1, {2, 0, 0, 0}, CNNRT_INIT_ONES, 1, NOT_DERIVED},
        {"bn.bias", 1, {2, 0, 0, 0}, CNNRT_INIT_ZEROS, 1, NOT_DERIVED},
        {"bn.running_mean", 1, {2, 0, 0, 0}, CNNRT_INIT_ZEROS, 1, NOT_DERIVED},
        {"bn.running_var", 1, {2, 0, 0, 0}, CNNRT_INIT_ONES, 1, NOT_DERIVED},
        {"conv.weight.folded", 2, {2, 3, 0, 0}, CNNRT_INIT_ZEROS, 1, 0},
        {"conv.bias.folded", 1, {2, 0, 0, 0}, CNNRT_INIT_ZEROS, 1, 1},
    };
    const std::vector<cnnrt_tensor_desc> tensors = param_tensors(8);  // parameter i is tensor i + 1
    int weight_args[] = {1, 3, 6, 7}, bias_args[] = {2, 3, 4, 5, 6, 8};
    const cnnrt_kernel_desc prepare[] = {{"prepare conv.weight.folded", k_fold_weight<10>, 4, weight_args},
                                         {"prepare conv.bias.folded", k_fold_bias<10>, 6, bias_args}};
    cnnrt_model_desc d = {"bn", {1, 1, 1}, 1, 8, params, 9, tensors.data(), 0, nullptr, 0, 0};
    d.num_prepare_kernels = 2, d.prepare_kernels = prepare;
    Model m(&d);
    ASSERT_NE(m.m, nullptr) << err();
    auto p = params_of(m);
    // Fresh model: gamma 1, var 1, mean 0, beta 0.
    for (int i = 0; i < 6; ++i)
        EXPECT_NEAR(p[6][size_t(i)], p[0][size_t(i)] / std::sqrt(1 + 1e-5), 1e-7);
    EXPECT_NEAR(p[7][1], p[1][1] / std::sqrt(1 + 1e-5), 1e-7);

    TempDir dir;
    std::vector<float> vals = {1, 2, 3, 4, 5, 6, /*bias*/ 0.5f, -1, /*gamma*/ 2, 3,
                               /*beta*/ 0.25f, 0, /*mean*/ 1, 2, /*var*/ 4, 9};
    std::vector<Entry> e;
    uint64_t off = 0;
    for (int i = 0; i < 6; ++i) {
        uint64_t n = i == 0 ? 6 : 2;
        e.push_back({params[i].name, "F32", i == 0 ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{2},
                     off, off + 4 * n});
        off += 4 * n;
    }
    write_file(dir.file("bn.safetensors"), with_header(header_json(e), float_bytes(vals)));
    ASSERT_EQ(cnnrt_load_weights(m, dir.file("bn.safetensors").c_str()), 0) << err();
    p = params_of(m);
    const double s0 = 2 / std::sqrt(4 + 1e-5), s1 = 3 / std::sqrt(9 + 1e-5);
    EXPECT_FLOAT_EQ(p[6][0], float(1 * s0));
    EXPECT_FLOAT_EQ(p[6][5], float(6 * s1));
    EXPECT_FLOAT_EQ(p[7][0], float((0.5 - 1) * s0 + 0.25));
    EXPECT_FLOAT_EQ(p[7][1], float((-1 - 2) * s1));

    // Saved without the derived tensors; a file that holds one is rejected.
    ASSERT_EQ(cnnrt_save_weights(m, dir.file("out.safetensors").c_str()), 0) << err();
    std::string saved = read_file(dir.file("out.safetensors"));
    EXPECT_EQ(saved.find("folded"), std::string::npos);
    e.push_back({"conv.bias.folded", "F32", {2}, off, off + 8});
    write_file(dir.file("bad.safetensors"), with_header(header_json(e), float_bytes(vals) + "12345678"));
    EXPECT_NE(cnnrt_load_weights(m, dir.file("bad.safetensors").c_str()), 0);
    EXPECT_EQ(err(), "unexpected tensor 'conv.bias.folded'");

    weight_args[1] = 8;  // a source listed after what it prepares
    EXPECT_EQ(cnnrt_create(&d), nullptr);
    EXPECT_NE(err().find("reads parameter 'conv.bias.folded', which is not listed before parameter "
                         "'conv.weight.folded'"),
              std::string::npos)
        << err();
}

TEST(Weights, PrepareKernelsAreValidated) {
    cnnrt_param_desc params[3] = {
        {"conv.weight", 4, {4, 3, 2, 3}, CNNRT_INIT_UNIFORM_FAN_IN, 18, NOT_DERIVED},
        {"conv.weight.blocked", 4, {2, 3, 6, 2}, CNNRT_INIT_ZEROS, 1, 0},
        {"conv.weight.blocked2", 4, {2, 3, 6, 2}, CNNRT_INIT_ZEROS, 1, NOT_DERIVED},
    };
    const std::vector<cnnrt_tensor_desc> tensors = param_tensors(3);
    int args[] = {1, 2};
    cnnrt_kernel_desc prepare[] = {{"prepare conv.weight.blocked", k_block_filters, 2, args}};
    cnnrt_model_desc d = {"blocked", {1, 1, 1}, 1, 3, params, 4, tensors.data(), 0, nullptr, 0, 0};
    d.num_prepare_kernels = 1, d.prepare_kernels = prepare;
    { Model ok(&d); ASSERT_NE(ok.m, nullptr) << err(); }
    auto refused = [&](const char *why) {
        EXPECT_EQ(cnnrt_create(&d), nullptr) << why;
        EXPECT_NE(err().find(why), std::string::npos) << err();
    };
    params[1].prepare = 1;
    refused("names a missing prepare kernel");
    params[1].prepare = 0, params[2].prepare = 0;
    refused("name the same prepare kernel");
    params[2].prepare = -1, params[1].prepare = -1;
    refused("computes no parameter");
    params[1].prepare = 0;
    args[1] = 3;
    refused("does not write parameter 'conv.weight.blocked'");
    args[1] = 2, args[0] = 0;
    refused("uses tensor #0, which is not a parameter");
    args[0] = 1, prepare[0].max_batch = 2;
    refused("has a batch range");
    prepare[0].max_batch = 0, prepare[0].fn = nullptr;
    refused("has no function");
    prepare[0].fn = k_block_filters;
    // Inference kernels never write parameters; training ones never read derived ones.
    const int writes_param[] = {0, 2};
    const cnnrt_kernel_desc kernels[] = {{"k", k_block_filters, 2, writes_param}};
    d.num_kernels = 1, d.kernels = kernels;
    refused("writes a parameter (only prepare kernels do)");
}

// The number of cores the thread running the first kernel of a call may use.
std::atomic<int> g_kernel_cores{-1};
int k_scale_recording_cores(void **args) {
    cpu_set_t set;
    CPU_ZERO(&set);
    g_kernel_cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
    return k_scale(args);
}

TEST(Api, CallsRunOnOneCoreAndRestoreTheCallersMask) {
    // ThreadPlacement.cpp: during a call the calling thread has a core of its
    // own (Halide's workers take the others); afterwards its mask is its own again.
    cpu_set_t before;
    CPU_ZERO(&before);
    ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
    const cnnrt_kernel_desc kernels[] = {{"scale", k_scale_recording_cores, 4, kScaleArgs},
                                         {"fc", k_fc, 4, kFcArgs}};
    cnnrt_model_desc d = kDesc;
    d.kernels = kernels;
    Model m(&d);
    ASSERT_NE(m.m, nullptr) << err();
    std::vector<float> in(IN, 1.0f), out(OUT);
    ASSERT_EQ(cnnrt_infer(m, in.data(), 1, out.data()), 0) << err();
    const char *env = std::getenv("CNNRT_PIN_THREADS");
    const bool placing = CPU_COUNT(&before) >= 2 && !(env && std::string(env) == "0");
    EXPECT_EQ(g_kernel_cores.load(), placing ? 1 : CPU_COUNT(&before));
    cpu_set_t after;
    CPU_ZERO(&after);
    ASSERT_EQ(sched_getaffinity(0, sizeof after, &after), 0);
    EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

#if defined(__x86_64__) || defined(__i386__)
// What the first kernel of a call computed of a denormal (the smallest
// normal float halved) times one, and its thread's MXCSR.
std::atomic<float> g_kernel_denormal{-1.0f};
std::atomic<unsigned> g_kernel_mxcsr{0};
int k_scale_recording_float_mode(void **args) {
    volatile float half_min = std::numeric_limits<float>::min() / 2, one = 1.0f;
    g_kernel_denormal = half_min * one;
    g_kernel_mxcsr = _mm_getcsr();
    return k_scale(args);
}

TEST(Api, CallsFlushDenormalsAndRestoreTheCallersFloatMode) {
    // FloatMode.cpp: denormals cost Intel cores ~100 cycles an operation, so
    // kernels run with FTZ and DAZ; the caller's own MXCSR comes back.
    const cnnrt_kernel_desc kernels[] = {{"scale", k_scale_recording_float_mode, 4, kScaleArgs},
                                         {"fc", k_fc, 4, kFcArgs}};
    cnnrt_model_desc d = kDesc;
    d.kernels = kernels;
    Model m(&d);
    ASSERT_NE(m.m, nullptr) << err();
    const unsigned before = _mm_getcsr();
    ASSERT_EQ(before & 0x8040u, 0u) << "the test process itself flushes denormals";
    volatile float half_min = std::numeric_limits<float>::min() / 2, one = 1.0f;
    ASSERT_GT(half_min * one, 0.0f);
    std::vector<float> in(IN, 1.0f), out(OUT);
    ASSERT_EQ(cnnrt_infer(m, in.data(), 1, out.data()), 0) << err();
    EXPECT_EQ(g_kernel_denormal.load(), 0.0f);
    EXPECT_EQ(g_kernel_mxcsr.load() & 0x8040u, 0x8040u);
    EXPECT_EQ(_mm_getcsr() & ~0x3Fu, before & ~0x3Fu);  // the control bits (the low six are sticky flags)
    EXPECT_GT(half_min * one, 0.0f);
}
#endif

TEST(Weights, BlockedFiltersArePreparedWhenInferenceNeedsThem) {
    // conv.weight [co=4, ci=3, 2, 3] in blocks of B = 2 filters: [co / B, ci, kh * kw, B].
    cnnrt_param_desc params[2] = {
        {"conv.weight", 4, {4, 3, 2, 3}, CNNRT_INIT_UNIFORM_FAN_IN, 18, NOT_DERIVED},
        {"conv.weight.blocked", 4, {2, 3, 6, 2}, CNNRT_INIT_ZEROS, 1, 0},
    };
    const std::vector<cnnrt_tensor_desc> tensors = param_tensors(2);
    const int args[] = {1, 2};
    const cnnrt_kernel_desc prepare[] = {{"prepare conv.weight.blocked", k_block_filters, 2, args}};
    cnnrt_model_desc d = {"blocked", {1, 1, 1}, 1, 2, params, 3, tensors.data(), 0, nullptr, 0, 0};
    d.num_prepare_kernels = 1, d.prepare_kernels = prepare;
    Model m(&d);
    ASSERT_NE(m.m, nullptr) << err();
    EXPECT_EQ(stored_params_of(m)[1], std::vector<float>(72, 0.0f)); // prepared by the first infer call
    float x = 1.0f, y = 0.0f;
    ASSERT_EQ(cnnrt_infer(m, &x, 1, &y), 0) << err();
    auto p = params_of(m);
    for (int co = 0; co < 4; ++co)
        for (int ci = 0; ci < 3; ++ci)
            for (int tap = 0; tap < 6; ++tap)
                EXPECT_EQ(p[1][size_t(((co / 2 * 3 + ci) * 6 + tap) * 2 + co % 2)], p[0][size_t((co * 3 + ci) * 6 + tap)])
                    << "co " << co << " ci " << ci << " tap " << tap;
    // A prepare kernel's failure (here: shapes it cannot block) fails the infer call that needed it.
    params[1].shape[0] = 3;
    Model bad(&d);
    ASSERT_NE(bad.m, nullptr) << err();
    EXPECT_NE(cnnrt_infer(bad, &x, 1, &y), 0);
    EXPECT_EQ(err(), "kernel 'prepare conv.weight.blocked' failed: Halide error code -2");
}

TEST(Weights, FoldedSourcesOfPreparedFiltersAreReleased) {
    // A folded weight that only its blocked form's preparation reads is freed
    // after preparing, and derived again for the next set of weights.
    cnnrt_param_desc params[7] = {
        {"conv.weight", 4, {4, 1, 1, 2}, CNNRT_INIT_UNIFORM_FAN_IN, 2, NOT_DERIVED},
        {"bn.weight", 1, {4, 0, 0, 0}, CNNRT_INIT_ONES, 1, NOT_DERIVED},
        {"bn.bias", 1, {4, 0, 0, 0}, CNNRT_INIT_ZEROS, 1, NOT_DERIVED},
        {"bn.running_mean", 1, {4, 0, 0, 0}, CNNRT_INIT_ZEROS, 1, NOT_DERIVED},
        {"bn.running_var", 1, {4, 0, 0, 0}, CNNRT_INIT_ONES, 1, NOT_DERIVED},
        {"conv.weight.folded", 4, {4, 1, 1, 2}, CNNRT_INIT_ZEROS, 1, 0},
        {"conv.weight.folded.blocked", 4, {2, 1, 2, 2}, CNNRT_INIT_ZEROS, 1, 1},
    };
    const std::vector<cnnrt_tensor_desc> tensors = param_tensors(7);
    const int fold_args[] = {1, 2, 5, 6}, block_args[] = {6, 7};
    const cnnrt_kernel_desc prepare[] = {{"prepare conv.weight.folded", k_fold_weight<250000>, 4, fold_args},
                                         {"prepare conv.weight.folded.blocked", k_block_filters, 2, block_args}};
    cnnrt_model_desc d = {"released", {1, 1, 1}, 1, 7, params, 8, tensors.data(), 0, nullptr, 0, 0};
    d.num_prepare_kernels = 2, d.prepare_kernels = prepare;
    Model m(&d);
    ASSERT_NE(m.m, nullptr) << err();
    const float scale = float(1.0 / std::sqrt(1.25));  // gamma 1, var 1, eps 0.25
    float x = 1.0f, y = 0.0f;
    for (float factor : {1.0f, -2.0f}) {
        SCOPED_TRACE("weights x " + std::to_string(factor));
        if (factor != 1.0f) {  // a new set, as load_weights publishes
            auto next = std::make_shared<cnnrt_model::Weights>(*m.m->snapshot());
            for (float &v : (*next)[0]) v *= factor;
            m.m->publish(std::move(next));
        }
        ASSERT_EQ(cnnrt_infer(m, &x, 1, &y), 0) << err();
        auto p = stored_params_of(m);
        EXPECT_TRUE(p[5].empty());
        ASSERT_EQ(p[6].size(), 8u);
        for (int co = 0; co < 4; ++co)
            for (int tap = 0; tap < 2; ++tap)
                EXPECT_NEAR(p[6][size_t((co / 2 * 2 + tap) * 2 + co % 2)], p[0][size_t(co * 2 + tap)] * scale, 1e-6)
                    << "co " << co << " tap " << tap;
    }
}

// ---------------------------------------------------------------- IDX

std::string be32(uint32_t v) {
    return {char(v >> 24), char((v >> 16) & 0xFF), char((v >> 8) & 0xFF), char(v & 0xFF)};
}

TEST(Idx, ReadsImagesAndLabels) {
    TempDir dir;
    std::string pixels;
    for (int i = 0; i < 2 * 3 * 4; ++i) pixels += char(i * 10);
    write_file(dir.file("img"), be32(0x803) + be32(2) + be32(3) + be32(4) + pixels);
    write_file(dir.file("lbl"), be32(0x801) + be32(3) + std::string("\x07\x00\x09", 3));
    float *img = nullptr;
    int n = 0, r = 0, c = 0;
    ASSERT_EQ(cnnrt_read_idx_images(dir.file("img").c_str(), &img, &n, &r, &c), 0) << err();
    EXPECT_EQ(n, 2);
    EXPECT_EQ(r, 3);
    EXPECT_EQ(c, 4);
    for (int i = 0; i < 24; ++i) EXPECT_FLOAT_EQ(img[i], float(i * 10) / 255.f);
    cnnrt_free(img);
    int *lbl = nullptr;
    ASSERT_EQ(cnnrt_read_idx_labels(dir.file("lbl").c_str(), &lbl, &n), 0) << err();
    ASSERT_EQ(n, 3);
    EXPECT_EQ(lbl[0], 7);
    EXPECT_EQ(lbl[1], 0);
    EXPECT_EQ(lbl[2], 9);
    cnnrt_free(lbl);
    cnnrt_free(nullptr);
}

TEST(Idx, Errors) {
    TempDir dir;
    float *img = nullptr;
    int *lbl = nullptr;
    int n = -1;
    auto imgs = [&](const std::string &bytes) {
        write_file(dir.file("f"), bytes);
        return cnnrt_read_idx_images(dir.file("f").c_str(), &img, &n, nullptr, nullptr);
    };
    EXPECT_NE(cnnrt_read_idx_images(dir.file("missing").c_str(), &img, &n, nullptr, nullptr), 0);
    EXPECT_NE(err().find("cannot open"), std::string::npos) << err();
    EXPECT_NE(imgs(be32(0x801) + be32(1) + "x"), 0);
    EXPECT_NE(err().find("bad magic 0x00000801, expected 0x00000803"), std::string::npos) << err();
    EXPECT_NE(imgs(be32(0x803) + be32(1)), 0);
    EXPECT_NE(err().find("truncated"), std::string::npos) << err();
    EXPECT_NE(imgs(be32(0x803) + be32(2) + be32(2) + be32(2) + "1234567"), 0);
    EXPECT_NE(err().find("truncated"), std::string::npos) << err();
    EXPECT_NE(imgs(be32(0x803) + be32(0xFFFFFFF) + be32(0xFFFFFFF) + be32(0xFFFFFFF)), 0);
    EXPECT_NE(imgs(be32(0x803) + be32(1) + be32(1) + be32(1) + "ab"), 0);
    EXPECT_NE(err().find("trailing"), std::string::npos) << err();
    EXPECT_NE(imgs(""), 0);
    EXPECT_EQ(img, nullptr);
    EXPECT_EQ(n, -1);
    write_file(dir.file("l"), be32(0x803) + be32(1) + "x");
    EXPECT_NE(cnnrt_read_idx_labels(dir.file("l").c_str(), &lbl, &n), 0);
    EXPECT_NE(err().find("bad magic"), std::string::npos) << err();
    EXPECT_NE(cnnrt_read_idx_labels(nullptr, &lbl, &n), 0);
    EXPECT_EQ(err(), "path is NULL");
    EXPECT_NE(cnnrt_read_idx_labels(dir.file("l").c_str(), nullptr, &n), 0);
    EXPECT_NE(cnnrt_read_idx_images(dir.file("l").c_str(), &img, nullptr, nullptr, nullptr), 0);
    EXPECT_EQ(lbl, nullptr);
}

}  // namespace

// ---------------------------------------------------------------- training

namespace {

using Params = std::vector<std::vector<float>>;
namespace tmodel = trainmodel;

struct Batch {
    std::vector<float> x;
    std::vector<int32_t> y;
    int n;
};

Batch make_batch(int n, uint32_t seed) {
    Batch b{random_floats(size_t(n) * tmodel::TIN, seed), std::vector<int32_t>(size_t(n)), n};
    for (int i = 0; i < n; ++i) b.y[size_t(i)] = int32_t((seed + uint32_t(i) * 7) % tmodel::K);
    return b;
}

// torch.optim's formulas, written out independently of the runtime.
struct RefOptim {
    bool adam = false;
    float lr = 0.01f, mom = 0, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0;
    int step = 0;
    Params m, v;  // momentum_buffer / exp_avg, exp_avg_sq (params 0 and 1)

    void apply(Params &p, const Params &g) {
        if (m.empty()) m.assign(2, {}), v.assign(2, {});
        ++step;
        for (int i = 0; i < 2; ++i) {
            std::vector<float> &w = p[size_t(i)];
            for (size_t j = 0; j < w.size(); ++j) {
                float d = g[size_t(i)][j] + wd * w[j];
                if (!adam) {
                    if (mom != 0) {
                        if (step == 1 && j == 0) m[size_t(i)].assign(w.size(), 0);
                        m[size_t(i)][j] = step == 1 ? d : mom * m[size_t(i)][j] + d;
                        d = m[size_t(i)][j];
                    }
                    w[j] -= lr * d;
                } else {
                    if (step == 1 && j == 0) m[size_t(i)].assign(w.size(), 0), v[size_t(i)].assign(w.size(), 0);
                    float &mm = m[size_t(i)][j], &vv = v[size_t(i)][j];
                    mm = b1 * mm + (1 - b1) * d;
                    vv = b2 * vv + (1 - b2) * d * d;
                    const double bc1 = 1 - std::pow(double(b1), step), bc2 = 1 - std::pow(double(b2), step);
                    const float denom = std::sqrt(vv) / float(std::sqrt(bc2)) + eps;
                    w[j] -= float(lr / bc1) * mm / denom;
                }
            }
        }
    }
};

// One reference step: returns the loss; updates p (incl. running stats and folds).
float ref_step(Params &p, RefOptim &opt, const Batch &b) {
    const int n = b.n;
    std::vector<float> logits(size_t(n) * tmodel::K), loss(static_cast<size_t>(n)), dl(size_t(n) * tmodel::K);
    tmodel::forward(b.x.data(), p[0].data(), p[1].data(), n, logits.data());
    std::vector<float> nm(tmodel::K), nv(tmodel::K);
    tmodel::stats(logits.data(), p[2].data(), p[3].data(), n, nm.data(), nv.data());
    tmodel::loss_grad(logits.data(), b.y.data(), n, loss.data(), dl.data());
    Params g = {std::vector<float>(tmodel::K * tmodel::TIN), std::vector<float>(tmodel::K)};
    tmodel::backward(b.x.data(), dl.data(), n, g[0].data(), g[1].data());
    opt.apply(p, g);
    p[2] = nm, p[3] = nv;
    for (int o = 0; o < tmodel::K; ++o) {
        const double s = 1.0 / std::sqrt(double(p[3][size_t(o)]) + double(tmodel::kEps));
        for (int k = 0; k < tmodel::TIN; ++k)
            p[4][size_t(o * tmodel::TIN + k)] = float(double(p[0][size_t(o * tmodel::TIN + k)]) * s);
        p[5][size_t(o)] = float((double(p[1][size_t(o)]) - double(p[2][size_t(o)])) * s);
    }
    double sum = 0;
    for (float l : loss) sum += l;
    return float(sum / n);
}

void expect_params_near(const Params &got, const Params &want, float tol, const char *what) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].size(), want[i].size());
        for (size_t j = 0; j < got[i].size(); ++j)
            EXPECT_NEAR(got[i][j], want[i][j], tol * std::max(1.0f, std::fabs(want[i][j])))
                << what << " param " << i << "[" << j << "]";
    }
}

void check_optimizer(RefOptim ref, bool set_adam) {
    Model m(&tmodel::kTrainDesc);
    ASSERT_NE(m.m, nullptr) << err();
    if (set_adam)
        ASSERT_EQ(cnnrt_set_adam(m, ref.lr, ref.b1, ref.b2, ref.eps, ref.wd), 0) << err();
    else
        ASSERT_EQ(cnnrt_set_sgd(m, ref.lr, ref.mom, ref.wd), 0) << err();
    Params p = params_of(m);
    for (int s = 0; s < 3; ++s) {
        Batch b = make_batch(5, uint32_t(10 + s));
        float loss = -1;
        ASSERT_EQ(cnnrt_train_step(m, b.x.data(), b.y.data(), b.n, &loss), 0) << err();
        const float want = ref_step(p, ref, b);
        EXPECT_NEAR(loss, want, 1e-6f * std::max(1.0f, want)) << "step " << s;
        expect_params_near(params_of(m), p, 1e-6f, "after step");
    }
}

}  // namespace

TEST(Train, SgdMomentumWeightDecayMatchesTorchFormulas) {
    RefOptim r;
    r.lr = 0.5f, r.mom = 0.9f, r.wd = 0.01f;
    check_optimizer(r, false);
}

TEST(Train, SgdPlainMatchesTorchFormulas) {
    RefOptim r;
    r.lr = 0.1f;
    check_optimizer(r, false);
}

TEST(Train, AdamMatchesTorchFormulas) {
    RefOptim r;
    r.adam = true, r.lr = 0.05f, r.b1 = 0.8f, r.b2 = 0.99f, r.eps = 1e-6f, r.wd = 0.02f;
    check_optimizer(r, true);
}

TEST(Train, NonFiniteGradientsAreRefused) {
    // A finite loss whose gradient holds an inf or a NaN: the step is an
    // error naming the parameter, and nothing changes (weights, optimiser
    // state, step count), with SGD (vectorized and scalar paths) and Adam.
    for (bool adam : {false, true})
        for (float poison : {INFINITY, -INFINITY, std::nanf("")}) {
            Model m(&tmodel::kTrainDesc), fresh(&tmodel::kTrainDesc);
            for (cnnrt_model *x : {(cnnrt_model *)m, (cnnrt_model *)fresh})
                ASSERT_EQ(adam ? cnnrt_set_adam(x, 0.01f, 0.9f, 0.999f, 1e-8f, 0) : cnnrt_set_sgd(x, 0.1f, 0.9f, 0), 0);
            Batch b = make_batch(4, 5);
            const Params before = params_of(m);
            float loss = 7;
            tmodel::g_poison_value = poison;
            tmodel::g_poison_gradient = true;
            const int rc = cnnrt_train_step(m, b.x.data(), b.y.data(), 4, &loss);
            tmodel::g_poison_gradient = false;
            EXPECT_NE(rc, 0);
            EXPECT_NE(err().find(" is not finite; the weights are unchanged"), std::string::npos) << err();
            EXPECT_EQ(loss, 7.0f);
            EXPECT_EQ(params_of(m), before);
            float l1, l2;
            ASSERT_EQ(cnnrt_train_step(m, b.x.data(), b.y.data(), 4, &l1), 0) << err();
            ASSERT_EQ(cnnrt_train_step(fresh, b.x.data(), b.y.data(), 4, &l2), 0) << err();
            EXPECT_EQ(params_of(m), params_of(fresh));
        }
}

TEST(Train, DefaultOptimizerIsSgdLr001) {
    Model m(&tmodel::kTrainDesc), n(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_set_sgd(n, 0.01f, 0, 0), 0) << err();
    Batch b = make_batch(4, 3);
    float l1, l2;
    ASSERT_EQ(cnnrt_train_step(m, b.x.data(), b.y.data(), b.n, &l1), 0) << err();
    ASSERT_EQ(cnnrt_train_step(n, b.x.data(), b.y.data(), b.n, &l2), 0) << err();
    EXPECT_EQ(params_of(m), params_of(n));
    EXPECT_EQ(l1, l2);
}

TEST(Train, BadHyperParameters) {
    Model m(&tmodel::kTrainDesc);
    const float nan = std::nanf(""), inf = INFINITY;
    EXPECT_NE(cnnrt_set_sgd(m, -1, 0, 0), 0);
    EXPECT_NE(err().find("lr"), std::string::npos) << err();
    EXPECT_NE(cnnrt_set_sgd(m, nan, 0, 0), 0);
    EXPECT_NE(cnnrt_set_sgd(m, inf, 0, 0), 0);
    EXPECT_NE(cnnrt_set_sgd(m, 0.1f, -0.5f, 0), 0);
    EXPECT_NE(err().find("momentum"), std::string::npos) << err();
    EXPECT_NE(cnnrt_set_sgd(m, 0.1f, 0, -1), 0);
    EXPECT_NE(err().find("weight_decay"), std::string::npos) << err();
    EXPECT_NE(cnnrt_set_adam(m, 0.1f, 1.0f, 0.9f, 1e-8f, 0), 0);
    EXPECT_NE(err().find("beta1"), std::string::npos) << err();
    EXPECT_NE(cnnrt_set_adam(m, 0.1f, 0.9f, -0.1f, 1e-8f, 0), 0);
    EXPECT_NE(err().find("beta2"), std::string::npos) << err();
    EXPECT_NE(cnnrt_set_adam(m, 0.1f, 0.9f, 0.9f, 0, 0), 0);
    EXPECT_NE(err().find("eps"), std::string::npos) << err();
    EXPECT_NE(cnnrt_set_adam(m, 0.1f, 0.9f, 0.9f, nan, 0), 0);
    EXPECT_NE(cnnrt_set_adam(m, 0.1f, 0.9f, 0.9f, 1e-8f, nan), 0);
    EXPECT_NE(cnnrt_set_sgd(nullptr, 0.1f, 0, 0), 0);
    EXPECT_EQ(err(), "model is NULL");
    EXPECT_EQ(cnnrt_set_adam(m, 0, 0, 0, 1e-8f, 0), 0) << err();
}

TEST(Train, SetOptimizerResetsState) {
    // SGD momentum, 2 steps, re-set: the next step starts a fresh momentum buffer.
    Model a(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_set_sgd(a, 0.1f, 0.9f, 0), 0);
    Batch b = make_batch(3, 1);
    float loss;
    for (int i = 0; i < 2; ++i) ASSERT_EQ(cnnrt_train_step(a, b.x.data(), b.y.data(), 3, &loss), 0);
    ASSERT_EQ(cnnrt_set_sgd(a, 0.1f, 0.9f, 0), 0);
    Params p = params_of(a);
    RefOptim r;
    r.lr = 0.1f, r.mom = 0.9f;
    ASSERT_EQ(cnnrt_train_step(a, b.x.data(), b.y.data(), 3, &loss), 0);
    ref_step(p, r, b);
    expect_params_near(params_of(a), p, 1e-6f, "after reset");
}

TEST(Train, ArgumentErrorsChangeNothing) {
    Model m(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_set_adam(m, 0.01f, 0.9f, 0.999f, 1e-8f, 0), 0);
    Batch b = make_batch(4, 9);
    float loss = 123;
    EXPECT_NE(cnnrt_train_step(nullptr, b.x.data(), b.y.data(), 4, &loss), 0);
    EXPECT_EQ(err(), "model is NULL");
    EXPECT_NE(cnnrt_train_step(m, nullptr, b.y.data(), 4, &loss), 0);
    EXPECT_EQ(err(), "input is NULL");
    EXPECT_NE(cnnrt_train_step(m, b.x.data(), nullptr, 4, &loss), 0);
    EXPECT_EQ(err(), "labels is NULL");
    EXPECT_NE(cnnrt_train_step(m, b.x.data(), b.y.data(), 4, nullptr), 0);
    EXPECT_EQ(err(), "loss is NULL");
    EXPECT_NE(cnnrt_train_step(m, b.x.data(), b.y.data(), 0, &loss), 0);
    EXPECT_EQ(err(), "batch must be >= 1, got 0");
    EXPECT_NE(cnnrt_train_step(m, b.x.data(), b.y.data(), -3, &loss), 0);

    const Params before = params_of(m);
    b.y[2] = tmodel::K;
    EXPECT_NE(cnnrt_train_step(m, b.x.data(), b.y.data(), 4, &loss), 0);
    EXPECT_EQ(err(), "label 3 at index 2 is out of range [0, 3)");
    b.y[2] = 0, b.y[3] = -1;
    EXPECT_NE(cnnrt_train_step(m, b.x.data(), b.y.data(), 4, &loss), 0);
    EXPECT_EQ(err(), "label -1 at index 3 is out of range [0, 3)");
    b.y[3] = 1;

    // A NaN in the input makes the loss NaN: an error, nothing changes.
    Batch bad = b;
    bad.x[1] = std::nanf("");
    EXPECT_NE(cnnrt_train_step(m, bad.x.data(), bad.y.data(), 4, &loss), 0);
    EXPECT_NE(err().find("loss is not finite (nan)"), std::string::npos) << err();
    EXPECT_EQ(loss, 123.0f);
    EXPECT_EQ(params_of(m), before);

    // The optimiser state and step counter did not move either: the next good step
    // equals the first step of a fresh model.
    Model fresh(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_set_adam(fresh, 0.01f, 0.9f, 0.999f, 1e-8f, 0), 0);
    float l1, l2;
    ASSERT_EQ(cnnrt_train_step(m, b.x.data(), b.y.data(), 4, &l1), 0) << err();
    const uint32_t seed1 = tmodel::g_last_seed;
    ASSERT_EQ(cnnrt_train_step(fresh, b.x.data(), b.y.data(), 4, &l2), 0) << err();
    EXPECT_EQ(tmodel::g_last_seed, seed1);
    EXPECT_EQ(params_of(m), params_of(fresh));
    EXPECT_EQ(l1, l2);
}

namespace {
int k_fail(void **) { return -7; }
}  // namespace

TEST(Train, KernelFailureChangesNothing) {
    cnnrt_kernel_desc kernels[4];
    std::copy(std::begin(tmodel::kTrainKernels), std::end(tmodel::kTrainKernels), kernels);
    kernels[3].fn = k_fail;
    cnnrt_model_desc d = tmodel::kTrainDesc;
    d.train_kernels = kernels;
    Model m(&d);
    ASSERT_NE(m.m, nullptr) << err();
    const Params before = params_of(m);
    Batch b = make_batch(2, 4);
    float loss;
    EXPECT_NE(cnnrt_train_step(m, b.x.data(), b.y.data(), 2, &loss), 0);
    EXPECT_EQ(err(), "training kernel 'bwd' failed: Halide error code -7");
    EXPECT_EQ(params_of(m), before);
}

TEST(Train, NotCompiledForTraining) {
    Model m;  // the inference-only test model
    ASSERT_NE(m.m, nullptr) << err();
    std::vector<float> x(IN);
    int32_t y = 0;
    float loss;
    EXPECT_NE(cnnrt_train_step(m, x.data(), &y, 1, &loss), 0);
    EXPECT_EQ(err(), "model 'testnet' was compiled without --train: it cannot be trained");
    EXPECT_NE(cnnrt_set_sgd(m, 0.1f, 0, 0), 0);
    EXPECT_NE(err().find("without --train"), std::string::npos);
    EXPECT_NE(cnnrt_set_adam(m, 0.1f, 0.9f, 0.99f, 1e-8f, 0), 0);
    EXPECT_NE(err().find("without --train"), std::string::npos);
    TempDir dir;
    EXPECT_NE(cnnrt_save_checkpoint(m, dir.file("c").c_str()), 0);
    EXPECT_NE(err().find("without --train"), std::string::npos);
    EXPECT_NE(cnnrt_load_checkpoint(m, dir.file("c").c_str()), 0);
    EXPECT_NE(err().find("without --train"), std::string::npos);
    EXPECT_TRUE(list_dir(dir.path).empty());
}

TEST(Train, NewParamsAndDerivedParamsAfterStep) {
    Model m(&tmodel::kTrainDesc);
    ASSERT_NE(m.m, nullptr) << err();
    Batch b = make_batch(6, 21);
    float loss;
    ASSERT_EQ(cnnrt_train_step(m, b.x.data(), b.y.data(), 6, &loss), 0) << err();
    // The step leaves the derived parameters to the next infer call.
    const Params stored = stored_params_of(m);
    const Params p = params_of(m);
    EXPECT_NE(stored[4], p[4]);
    // Running stats moved away from (0, 1) to 0.9*old + 0.1*batch stats.
    Params start = Params(6);
    start[2].assign(tmodel::K, 0.0f), start[3].assign(tmodel::K, 1.0f);
    bool moved = false;
    for (int o = 0; o < tmodel::K; ++o) moved |= p[2][size_t(o)] != 0.0f || p[3][size_t(o)] != 1.0f;
    EXPECT_TRUE(moved);
    // Derived parameters follow the new weights and statistics.
    for (int o = 0; o < tmodel::K; ++o) {
        const double s = 1.0 / std::sqrt(double(p[3][size_t(o)]) + double(tmodel::kEps));
        EXPECT_EQ(p[5][size_t(o)], float((double(p[1][size_t(o)]) - double(p[2][size_t(o)])) * s));
        for (int k = 0; k < tmodel::TIN; ++k)
            EXPECT_EQ(p[4][size_t(o * tmodel::TIN + k)], float(double(p[0][size_t(o * tmodel::TIN + k)]) * s));
    }
    // ...and inference uses them.
    std::vector<float> out(6 * tmodel::K), want(6 * tmodel::K);
    ASSERT_EQ(cnnrt_infer(m, b.x.data(), 6, out.data()), 0) << err();
    tmodel::forward(b.x.data(), p[4].data(), p[5].data(), 6, want.data());
    EXPECT_EQ(out, want);
}

TEST(Train, SeedsFollowTheStepCounter) {
    Model a(&tmodel::kTrainDesc), b(&tmodel::kTrainDesc);
    Batch x = make_batch(2, 5);
    float loss;
    std::vector<uint32_t> sa, sb;
    for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(cnnrt_train_step(a, x.x.data(), x.y.data(), 2, &loss), 0);
        sa.push_back(tmodel::g_last_seed);
    }
    for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(cnnrt_train_step(b, x.x.data(), x.y.data(), 2, &loss), 0);
        sb.push_back(tmodel::g_last_seed);
    }
    EXPECT_EQ(sa, sb);
    EXPECT_EQ(std::set<uint32_t>(sa.begin(), sa.end()).size(), sa.size());
}

TEST(Train, LossTermsAreWeightedMeans) {
    const cnnrt_loss_term terms[] = {{tmodel::T_LOSS, 1.0f}, {tmodel::T_LOSS, 0.25f}};
    cnnrt_model_desc d = tmodel::kTrainDesc;
    d.loss_terms = terms;
    d.num_loss_terms = 2;
    Model m(&d), ref(&tmodel::kTrainDesc);
    Batch b = make_batch(7, 8);
    float l1, l2;
    ASSERT_EQ(cnnrt_train_step(m, b.x.data(), b.y.data(), 7, &l1), 0) << err();
    ASSERT_EQ(cnnrt_train_step(ref, b.x.data(), b.y.data(), 7, &l2), 0) << err();
    EXPECT_NEAR(l1, 1.25f * l2, 1e-6f);
}

TEST(Train, RejectsBadTrainDescs) {
    auto expect_bad = [](const cnnrt_model_desc &d, const std::string &what) {
        cnnrt_model *m = cnnrt_create(&d);
        EXPECT_EQ(m, nullptr) << what;
        cnnrt_destroy(m);
        EXPECT_NE(err().find(what), std::string::npos) << err();
    };
    cnnrt_model_desc d = tmodel::kTrainDesc;
    d.train_arena_floats_per_sample = tmodel::kTrainArena - 1;
    expect_bad(d, "outside the training arena");

    cnnrt_tensor_desc t[tmodel::T_COUNT];
    auto reset = [&] {
        std::copy(std::begin(tmodel::kTensors), std::end(tmodel::kTensors), t);
        d = tmodel::kTrainDesc;
        d.tensors = t;
    };
    reset();
    t[tmodel::T_GW].index = 99;
    expect_bad(d, "missing parameter");
    reset();
    t[tmodel::T_GW].index = 2;  // a buffer
    expect_bad(d, "has no gradient");
    reset();
    t[tmodel::T_GW].index = 4;  // derived
    expect_bad(d, "has no gradient");
    reset();
    t[tmodel::T_NEW_MEAN].index = 0;  // not a buffer
    expect_bad(d, "not a (non-derived) buffer");
    reset();
    t[tmodel::T_LOSS].storage = 42;
    expect_bad(d, "unknown storage");

    const cnnrt_loss_term bad_terms[] = {{tmodel::T_LOGITS, 1.0f}};
    reset();
    d.loss_terms = bad_terms;
    expect_bad(d, "dims {1, 1, 1}");
    const cnnrt_loss_term bad_terms2[] = {{tmodel::T_W, 1.0f}};
    d.loss_terms = bad_terms2;
    expect_bad(d, "not a TRAIN tensor");
    const cnnrt_loss_term bad_terms3[] = {{99, 1.0f}};
    d.loss_terms = bad_terms3;
    expect_bad(d, "loss term #0 refers to a missing tensor");
    const cnnrt_loss_term bad_terms4[] = {{tmodel::T_LOSS, NAN}};
    d.loss_terms = bad_terms4;
    expect_bad(d, "non-finite weight");
    reset();
    d.num_loss_terms = 0;
    expect_bad(d, "no loss terms");
    reset();
    d.num_classes = 0;
    expect_bad(d, "num_classes");
    reset();
    d.train_kernels = nullptr;
    expect_bad(d, "NULL training table");

    cnnrt_kernel_desc k[4];
    std::copy(std::begin(tmodel::kTrainKernels), std::end(tmodel::kTrainKernels), k);
    const int bad_args[] = {tmodel::T_INPUT, 77};
    reset();
    d.train_kernels = k;
    k[0].args = bad_args, k[0].num_args = 2;
    expect_bad(d, "training kernel 'fwd' refers to a missing tensor");
    const int writes_param[] = {tmodel::T_INPUT, tmodel::T_W};
    k[0].args = writes_param;
    expect_bad(d, "does not write a TRAIN, GRAD or NEW_PARAM tensor");
    const int uses_output[] = {tmodel::T_INPUT, tmodel::T_OUTPUT, tmodel::T_LOGITS};
    k[0].args = uses_output, k[0].num_args = 3;
    expect_bad(d, "inference output/activation");
    // Inference kernels cannot use training storages.
    const int infer_bad[] = {tmodel::T_INPUT, tmodel::T_GW, tmodel::T_BF, tmodel::T_OUTPUT};
    const cnnrt_kernel_desc ik[] = {{"infer", tmodel::k_infer, 4, infer_bad}};
    reset();
    d.kernels = ik;
    expect_bad(d, "training-only tensor");
    reset();
    d.result_tensor = tmodel::T_LOGITS;
    expect_bad(d, "result_tensor");

    // Without training kernels the training fields may all be zero.
    reset();
    d.num_train_kernels = 0, d.train_kernels = nullptr, d.num_loss_terms = 0,
    d.loss_terms = nullptr, d.num_classes = 0;
    Model ok(&d);
    EXPECT_NE(ok.m, nullptr) << err();
}

TEST(Train, InferDuringTrainingIsSafe) {
    Model m(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_set_adam(m, 0.01f, 0.9f, 0.999f, 1e-8f, 0), 0);
    std::atomic<bool> done{false};
    std::atomic<int> failures{0}, calls{0};
    Batch probe = make_batch(3, 77);
    std::thread reader([&] {
        std::vector<float> out(3 * tmodel::K);
        while (!done) {
            if (cnnrt_infer(m, probe.x.data(), 3, out.data()) != 0) ++failures;
            for (float v : out)
                if (!std::isfinite(v)) ++failures;
            ++calls;
        }
    });
    while (calls == 0) std::this_thread::yield();  // overlap for sure
    float loss;
    for (int s = 0; s < 300; ++s) {
        Batch b = make_batch(8, uint32_t(s));
        ASSERT_EQ(cnnrt_train_step(m, b.x.data(), b.y.data(), 8, &loss), 0) << err();
    }
    done = true;
    reader.join();
    EXPECT_EQ(failures, 0);
    EXPECT_GT(calls, 0);
}

// ---------------------------------------------------------------- checkpoints

namespace {

// Trains `steps` steps on batches seed0, seed0+1, ... and returns the losses.
std::vector<float> train(cnnrt_model *m, int steps, uint32_t seed0, std::vector<uint32_t> *seeds = nullptr) {
    std::vector<float> losses;
    for (int s = 0; s < steps; ++s) {
        Batch b = make_batch(5, seed0 + uint32_t(s));
        float loss = 0;
        EXPECT_EQ(cnnrt_train_step(m, b.x.data(), b.y.data(), 5, &loss), 0) << err();
        if (seeds) seeds->push_back(tmodel::g_last_seed);
        losses.push_back(loss);
    }
    return losses;
}

void check_resume(bool adam) {
    auto set = [adam](cnnrt_model *m) {
        return adam ? cnnrt_set_adam(m, 0.05f, 0.9f, 0.99f, 1e-7f, 0.01f)
                    : cnnrt_set_sgd(m, 0.2f, 0.9f, 0.01f);
    };
    TempDir dir;
    const std::string ck = dir.file("ck.safetensors");
    Model a(&tmodel::kTrainDesc);
    ASSERT_EQ(set(a), 0);
    train(a, 3, 100);
    ASSERT_EQ(cnnrt_save_checkpoint(a, ck.c_str()), 0) << err();
    EXPECT_EQ(list_dir(dir.path), std::vector<std::string>{"ck.safetensors"});
    std::vector<uint32_t> seeds_a, seeds_b;
    const std::vector<float> la = train(a, 3, 103, &seeds_a);

    Model b(&tmodel::kTrainDesc);  // default optimiser: the checkpoint replaces it
    ASSERT_EQ(cnnrt_load_checkpoint(b, ck.c_str()), 0) << err();
    const std::vector<float> lb = train(b, 3, 103, &seeds_b);
    EXPECT_EQ(la, lb);
    EXPECT_EQ(seeds_a, seeds_b);
    EXPECT_EQ(params_of(a), params_of(b));  // bit-identical

    // A checkpoint also loads as plain weights.
    Model c(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_load_weights(c, ck.c_str()), 0) << err();
    Model d(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_load_checkpoint(d, ck.c_str()), 0) << err();
    EXPECT_EQ(params_of(c), params_of(d));

    // ...but a plain weights file is not a checkpoint.
    ASSERT_EQ(cnnrt_save_weights(a, dir.file("w.safetensors").c_str()), 0) << err();
    EXPECT_NE(cnnrt_load_checkpoint(d, dir.file("w.safetensors").c_str()), 0);
    EXPECT_NE(err().find("missing tensor '__optim__."), std::string::npos) << err();
}

}  // namespace

TEST(Checkpoint, SgdMomentumResumeIsBitIdentical) { check_resume(false); }
TEST(Checkpoint, AdamResumeIsBitIdentical) { check_resume(true); }

TEST(Checkpoint, CorruptFilesFailCleanly) {
    TempDir dir;
    const std::string ck = dir.file("ck.safetensors");
    Model a(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_set_adam(a, 0.05f, 0.9f, 0.99f, 1e-7f, 0.01f), 0);
    train(a, 2, 1);
    ASSERT_EQ(cnnrt_save_checkpoint(a, ck.c_str()), 0) << err();
    const std::string good = read_file(ck);
    EXPECT_NE(good.find("__optim__.exp_avg_sq.fc.weight"), std::string::npos);
    EXPECT_EQ(good.find("running_mean\\\""), std::string::npos);  // no stray quoting
    EXPECT_EQ(good.find("momentum."), std::string::npos);

    // The victim model: a distinct state that must survive every failed load.
    Model m(&tmodel::kTrainDesc);
    ASSERT_EQ(cnnrt_set_sgd(m, 0.1f, 0.5f, 0), 0);
    train(m, 1, 50);
    const Params before = params_of(m);
    auto next_step = [](cnnrt_model *x) {
        Batch b = make_batch(5, 999);
        float loss = 0;
        EXPECT_EQ(cnnrt_train_step(x, b.x.data(), b.y.data(), 5, &loss), 0) << err();
        return std::make_pair(params_of(x), tmodel::g_last_seed.load());
    };
    Model twin(&tmodel::kTrainDesc);  // the same history as m
    ASSERT_EQ(cnnrt_set_sgd(twin, 0.1f, 0.5f, 0), 0);
    train(twin, 1, 50);

    const std::string bad = dir.file("bad.safetensors");
    int failures = 0;
    for (size_t len = 0; len < good.size(); len += (len < 300 ? 1 : 7)) {
        write_file(bad, good.substr(0, len));
        if (cnnrt_load_checkpoint(m, bad.c_str()) != 0) ++failures;
    }
    std::mt19937 g(3);
    for (int i = 0; i < 300; ++i) {
        std::string s = good;
        s[g() % s.size()] ^= char(1 + g() % 255);
        write_file(bad, s);
        if (cnnrt_load_checkpoint(m, bad.c_str()) == 0) {
            ASSERT_EQ(cnnrt_load_checkpoint(m, ck.c_str()), 0);
        }
    }
    EXPECT_GT(failures, 0);

    // Targeted corruptions.
    auto patch = [&](const std::string &from, const std::string &to) {
        // Edit the JSON header, then rebuild the file with the new header length.
        const size_t hlen = size_t(uint8_t(good[0])) + 256 * size_t(uint8_t(good[1]));
        std::string h = good.substr(8, hlen);
        size_t at = h.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        h.replace(at, from.size(), to);
        write_file(bad, with_header(h, good.substr(8 + hlen)));
        return cnnrt_load_checkpoint(m, bad.c_str());
    };
    EXPECT_NE(patch("\"__optim__.kind\":{\"dtype\":\"I64\"", "\"__optim__.kind\":{\"dtype\":\"F64\""), 0);
    EXPECT_NE(err().find("F64"), std::string::npos) << err();
    EXPECT_NE(patch("__optim__.exp_avg.fc.bias", "__optim__.exp_avg.fc.bia_"), 0);
    EXPECT_NE(err().find("__optim__.exp_avg"), std::string::npos) << err();
    EXPECT_NE(patch("__optim__.hparams\":{\"dtype\":\"F32\",\"shape\":[6]",
                    "__optim__.hparams\":{\"dtype\":\"F32\",\"shape\":[3,2]"), 0);
    EXPECT_NE(err().find("shape"), std::string::npos) << err();
    EXPECT_NE(patch("\"format\":\"pt\"}", "\"format\":\"pt\"},\"__optim__.extra\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}"), 0);
    EXPECT_NE(err().find("unexpected tensor '__optim__.extra'"), std::string::npos) << err();
    // A bad kind value: find the kind tensor's data and overwrite it.
    {
        Model k(&tmodel::kTrainDesc);
        ASSERT_EQ(cnnrt_set_sgd(k, 0.1f, 0, 0), 0);  // SGD without momentum: no buffers
        ASSERT_EQ(cnnrt_save_checkpoint(k, ck.c_str()), 0) << err();
        std::string s = read_file(ck);
        EXPECT_EQ(s.find("__optim__.momentum"), std::string::npos);
        const size_t hdr = 8 + size_t(uint8_t(s[0])) + 256 * size_t(uint8_t(s[1]));
        const std::string key = "\"__optim__.kind\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[";
        const size_t p = s.find(key);
        ASSERT_NE(p, std::string::npos);
        const size_t off = std::stoul(s.substr(p + key.size()));
        s[hdr + off] = 7;
        write_file(bad, s);
        EXPECT_NE(cnnrt_load_checkpoint(m, bad.c_str()), 0);
        EXPECT_NE(err().find("unknown optimiser kind 7"), std::string::npos) << err();
        s[hdr + off] = 0;
        s[hdr + off + 7] = char(0x80);  // negative
        write_file(bad, s);
        EXPECT_NE(cnnrt_load_checkpoint(m, bad.c_str()), 0);
    }

    // After all that, m still behaves exactly like its twin (unless a random corruption
    // happened to load, in which case it was reloaded from the good checkpoint: skip).
    if (params_of(m) == before) {
        auto [pm, sm] = next_step(m);
        auto [pt, st] = next_step(twin);
        EXPECT_EQ(pm, pt);
        EXPECT_EQ(sm, st);
    }
}
