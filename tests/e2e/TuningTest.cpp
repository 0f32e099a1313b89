// cnnc tune and the tuning database: what tuning records is what later
// compiles use, a bad database is a clear error, tuned libraries compute the
// same as default ones.
#include <filesystem>
#include <regex>
#include <sstream>

#include "tests/e2e/E2ECommon.h"

namespace cnnc_test {
namespace {

const char *kNet = "network tuned(x: [4, 12, 10]) {\n"
                   "  return x -> conv(8, 3, pad=1) -> relu -> conv(6, 3, stride=2) -> relu -> maxpool(2)\n"
                   "}\n";

// Tuning times each kernel at each kernel target (KernelTarget.cpp); these
// tests tune the portable (AVX2) one alone, so they record the same entries on
// every CPU. TuneRecordsBothWidthsWhereAsked covers the wide one.
const char *kPortable = "--target=x86-64-linux-avx-avx2-f16c-fma-sse41";
const char *kBothWidths = "--target=x86-64-linux-avx-avx2-avx512-avx512_skylake-f16c-fma-sse41,"
                          "x86-64-linux-avx-avx2-f16c-fma-sse41";

struct TunedFixture : ::testing::Test {
    TempDir tmp;
    std::string model = tmp.file("tuned.cnn"), db = tmp.file("tuning.tdb");
    void SetUp() override { writeFile(model, kNet); }
    ProcResult compile(const std::string &out, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{model, "-o", tmp.file(out), "--cache-dir=" + tmp.file("cache")};
        args.insert(args.end(), extra.begin(), extra.end());
        return runCnnc(args);
    }
    // The network compiled with the database and without agree within 1e-5
    // of the largest output, on random weights and inputs, at each batch.
    void expectTunedMatchesUntuned(const std::vector<int> &batches, uint32_t seed) {
        CompiledModel a = compileModel(kNet, "tuned", {"--tuning-db=" + db});
        CompiledModel b = compileModel(kNet, "tuned", {"--no-tuning"});
        ASSERT_TRUE(a.ok() && b.ok()) << a.error() << b.error();
        TensorMap w = randomWeights({{"conv1.weight", {8, 4, 3, 3}}, {"conv1.bias", {8}},
                                     {"conv2.weight", {6, 8, 3, 3}}, {"conv2.bias", {6}}},
                                    seed);
        ASSERT_EQ(a.setWeights(w), 0) << a.lastError();
        ASSERT_EQ(b.setWeights(w), 0) << b.lastError();
        for (int batch : batches) {
            std::vector<float> x = randomNormal(size_t(batch) * 4 * 12 * 10, seed + 4u + uint32_t(batch));
            std::vector<float> ya = a.infer(x, batch), yb = b.infer(x, batch);
            ASSERT_EQ(ya.size(), yb.size());
            ASSERT_FALSE(ya.empty());
            double worst = 0, scale = 1e-30;
            for (size_t i = 0; i < ya.size(); ++i)
                worst = std::max(worst, double(std::fabs(ya[i] - yb[i]))),
                scale = std::max(scale, double(std::fabs(yb[i])));
            EXPECT_LE(worst, 1e-5 * scale) << "batch " << batch;
        }
    }
    std::vector<std::string> dbLines() {
        std::vector<std::string> lines;
        std::istringstream in(readFile(db));
        for (std::string l; std::getline(in, l);)
            if (!l.empty() && l[0] != '#') lines.push_back(l);
        return lines;
    }
};

TEST_F(TunedFixture, TuneRecordsEveryTunableKernel) {
    ProcResult r = runCnnc({"tune", model, kPortable, "--tuning-db=" + db, "--tune-batch=1,3", "--tune-runs=1"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("speedup"), std::string::npos) << r.out;
    std::vector<std::string> lines = dbLines();
    ASSERT_EQ(lines.size(), 2u) << readFile(db); // two convs, two kernels
    std::regex entry("[0-9a-f]{16} [a-z0-9_-]+@[a-z0-9=,KM]+ [a-z_=0-9,]+ [0-9.]+ # tuned %[0-9]+ .*");
    for (const std::string &l : lines) EXPECT_TRUE(std::regex_match(l, entry)) << l;

    // Tuning again skips what the database has, unless asked.
    ProcResult again = runCnnc({"tune", model, kPortable, "--tuning-db=" + db, "--tune-runs=1"});
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_NE(again.out.find("from the database"), std::string::npos) << again.out;
}

TEST_F(TunedFixture, TuneRecordsBothWidthsWhereAsked) {
    if (readFile("/proc/cpuinfo").find("avx512f") == std::string::npos) GTEST_SKIP() << "no AVX-512 on this CPU";
    ProcResult r = runCnnc({"tune", model, kBothWidths, "--tuning-db=" + db, "--tune-batch=1", "--tune-runs=1"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("@512-bit"), std::string::npos) << r.out;
    std::vector<std::string> lines = dbLines();
    ASSERT_EQ(lines.size(), 4u) << readFile(db); // two convs, each at two widths
    int wide = 0;
    for (const std::string &l : lines) wide += l.find("avx512_skylake") != std::string::npos;
    EXPECT_EQ(wide, 2) << readFile(db);
    // A library builds from it, each kernel in both forms.
    ProcResult built = compile("both.so", {kBothWidths, "--tuning-db=" + db});
    ASSERT_EQ(built.status, 0) << built.err;
}

TEST_F(TunedFixture, VerboseTuningPrintsEveryCandidate) {
    ProcResult r = runCnnc({"tune", model, kPortable, "--tuning-db=" + db, "--tune-batch=1", "--tune-runs=1", "--tune-verbose"});
    ASSERT_EQ(r.status, 0) << r.err;
    // The summary's rows: a 36-column label, then the kernel's candidate count.
    int candidates = 0, kernels = 0;
    std::istringstream out(r.out);
    for (std::string l; std::getline(out, l);)
        if (l.rfind("%", 0) == 0) candidates += std::stoi(l.substr(36, 11)), ++kernels;
    ASSERT_EQ(kernels, 2) << r.out;
    ASSERT_GT(candidates, kernels) << r.out;
    std::regex timed("%[0-9]+ .* [0-9.]+ us/sample  [a-z_=0-9,]+");
    int lines = 0;
    std::istringstream err(r.err);
    for (std::string l; std::getline(err, l);) lines += std::regex_search(l, timed) ? 1 : 0;
    EXPECT_EQ(lines, candidates) << r.err;
}

TEST_F(TunedFixture, CompilesUseTheDatabaseChoice) {
    ASSERT_EQ(runCnnc({"tune", model, kPortable, "--tuning-db=" + db, "--tune-batch=1", "--tune-runs=1"}).status, 0);
    // Force a known non-default choice for the 3x3 stride-1 conv (Winograd),
    // and one no kernel has (ignored, not trusted) for the other.
    std::vector<std::string> lines = dbLines();
    ASSERT_EQ(lines.size(), 2u);
    std::string text;
    for (std::string l : lines) {
        std::istringstream f(l);
        std::string sig, target;
        f >> sig >> target;
        bool first = l.find("conv") != std::string::npos && l.find("relu") != std::string::npos &&
                     l.find("maxpool") == std::string::npos;
        text += sig + " " + target + " " + (first ? "winograd=1,wino_par=1" : "tile_c=99") + " 1.0\n";
    }
    writeFile(db, text);
    ProcResult tuned = compile("tuned.so", {"--tuning-db=" + db});
    ASSERT_EQ(tuned.status, 0) << tuned.err;
    EXPECT_NE(tuned.err.find("1 tuned"), std::string::npos) << tuned.err;
    ProcResult plain = compile("plain.so", {"--no-tuning"});
    ASSERT_EQ(plain.status, 0) << plain.err;
    EXPECT_NE(plain.err.find("0 tuned"), std::string::npos) << plain.err;

    expectTunedMatchesUntuned({1, 7}, 7);

    // The same entries tuned on another CPU (other cache sizes) apply here
    // nowhere, and neither do entries from before CPUs were told apart.
    for (const std::string &cpu : {std::string("@l1d=1K,l2=2K"), std::string()}) {
        std::string other;
        std::istringstream in(text);
        for (std::string l; std::getline(in, l);) {
            size_t at = l.find('@'), space = l.find(' ', at);
            other += l.substr(0, at) + cpu + l.substr(space) + "\n";
        }
        writeFile(db, other);
        ProcResult elsewhere = compile("elsewhere.so", {"--tuning-db=" + db});
        ASSERT_EQ(elsewhere.status, 0) << elsewhere.err;
        EXPECT_NE(elsewhere.err.find("0 tuned"), std::string::npos) << other << elsewhere.err;
    }
}

// Batch variants (`batch>=N`): the library holds every schedule of the
// kernel, each call runs the one for its batch, and all compute the same.
TEST_F(TunedFixture, BatchVariantsCompileAndAgree) {
    ASSERT_EQ(runCnnc({"tune", model, kPortable, "--tuning-db=" + db, "--tune-batch=1", "--tune-runs=1"}).status, 0);
    std::string text;
    for (std::string l : dbLines()) {
        std::istringstream f(l);
        std::string sig, target;
        f >> sig >> target;
        bool first = l.find("maxpool") == std::string::npos;
        text += sig + " " + target + " default 1.0\n";
        // Two variants whose prepared filters differ (F(2x2) and F(4x4) tiles).
        if (first)
            text += sig + " " + target + " tile_x=8,wino_filters=1,winograd=1 1.0 batch>=3 # conv1 at batch >= 3\n" +
                    sig + " " + target + " tile_x=8,wino_filters=1,wino_m=4,winograd=1 1.0 batch>=5\n";
    }
    writeFile(db, text);
    // Without the layer kernels (<name>_infer_layer), so that every distinct kernel is a tuned one.
    ProcResult tuned = compile("variants.so", {"--tuning-db=" + db, "--no-layers"});
    ASSERT_EQ(tuned.status, 0) << tuned.err;
    EXPECT_NE(tuned.err.find("(2 kernel calls, 4 distinct kernels, 4 tuned"), std::string::npos) << tuned.err;

    // The database keeps the variant through tuning, and tune reports it.
    ProcResult again = runCnnc({"tune", model, kPortable, "--tuning-db=" + db, "--tune-runs=1"});
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_NE(again.out.find("default, batch>=5: tile_x=8,wino_filters=1,wino_m=4,winograd=1 (from the database)"),
              std::string::npos)
        << again.out;
    EXPECT_NE(readFile(db).find(" tile_x=8,wino_filters=1,winograd=1 1.0 batch>=3 # conv1 at batch >= 3\n"),
              std::string::npos)
        << readFile(db);

    expectTunedMatchesUntuned({1, 3, 2, 7, 4, 5}, 5);
}

TEST_F(TunedFixture, MalformedDatabaseIsAnError) {
    for (const char *bad : {"0123456789abcdef x86-64-linux default\n",              // missing time
                            "0123456789abcdeg x86-64-linux default 1.0\n",          // not hex
                            "0123456789abcdef no-such-target default 1.0\n",        // target
                            "0123456789abcdef x86-64-linux@ default 1.0\n",        // no CPU after '@'
                            "0123456789abcdef x86-64-linux@a@b default 1.0\n",     // two
                            "0123456789abcdef x86-64-linux tile_c=-1 1.0\n",        // schedule
                            "0123456789abcdef x86-64-linux default nan\n",         // time
                            "0123456789abcdef x86-64-linux default 1.0 batch>=1\n", // a variant for every batch
                            "0123456789abcdef x86-64-linux default 1.0 batch>8\n",  // bound
                            "0123456789abcdef x86-64-linux default 1.0 batch>=8 x\n"}) { // extra field
        writeFile(db, std::string("# ok\n\n") + bad);
        ProcResult r = compile("never.so", {"--tuning-db=" + db});
        EXPECT_EQ(r.status, 1) << bad;
        EXPECT_NE(r.err.find(db + ":3: error:"), std::string::npos) << r.err;
        EXPECT_FALSE(std::filesystem::exists(tmp.file("never.so")));
    }
}

TEST(Tuning, NothingToTune) {
    TempDir tmp;
    std::string model = tmp.file("pool.cnn"), db = tmp.file("t.tdb");
    writeFile(model, "network pool(x: [2, 8, 8]) {\n  return x -> maxpool(2)\n}\n");
    ProcResult r = runCnnc({"tune", model, kPortable, "--tuning-db=" + db});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("no kernel of pool has candidate schedules"), std::string::npos) << r.out;
}

TEST(Tuning, BadOptions) {
    for (const char *opt : {"--tune-batch=0", "--tune-batch=", "--tune-runs=x", "--autoschedule=Nope", "--schedule=a=",
                            "--tuning-db="}) {
        ProcResult r = runCnnc({sourceDir() + "/examples/lenet5.cnn", opt});
        EXPECT_EQ(r.status, 1) << opt;
        EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
    }
}

} // namespace
} // namespace cnnc_test
