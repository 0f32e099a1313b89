// cnnrt (tools/cnnrt) end to end: the command line against FAKE model libraries
// (tests/tools/fake_model.c, logistic regression behind the cnnc C API), on
// synthetic IDX / CIFAR-10 / image files written here; real MNIST when present.
#include <png.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

namespace {

using std::string;

struct Result {
    int rc = -1;
    string out, err;
};

string slurp(const string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

void spit(const string &path, const string &data) {
    std::ofstream f(path, std::ios::binary);
    f << data;
}

string quote(const string &s) {
    string q = "'";
    for (char c : s) q += c == '\'' ? string("'\\''") : string(1, c);
    return q + "'";
}

class CnnrtTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/cnnrt_test_XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override {
        if (!HasFailure()) std::system(("rm -rf " + quote(dir)).c_str());
        else std::fprintf(stderr, "kept %s\n", dir.c_str());
    }

    // Runs cnnrt with args (already quoted where needed) in the test's directory.
    Result cnnrt(const string &args) {
        string cmd = "cd " + quote(dir) + " && " + quote(CNNRT_EXE) + " " + args + " >out.txt 2>err.txt";
        int st = std::system(cmd.c_str());
        Result r;
        r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        r.out = slurp(dir + "/out.txt");
        r.err = slurp(dir + "/err.txt");
        return r;
    }
    static string lib(const string &name) { return quote(string(FAKE_DIR) + "/" + name + ".so"); }

    // Asserts a clean failure: exit 1, one "cnnrt: error:" message containing `what`.
    void expectError(const string &args, const string &what) {
        Result r = cnnrt(args);
        EXPECT_EQ(r.rc, 1) << args << "\n" << r.err;
        // Notes may come first; the error is the last line, and the only one.
        size_t at = r.err.find("cnnrt: error: ");
        EXPECT_TRUE(at != string::npos && (at == 0 || r.err[at - 1] == '\n')) << args << "\nstderr: " << r.err;
        EXPECT_EQ(r.err.find('\n', at), r.err.size() - 1) << args << "\nstderr: " << r.err;
        EXPECT_NE(r.err.find(what), string::npos) << args << "\nwanted: " << what << "\nstderr: " << r.err;
    }

    string dir;
};

// ---- synthetic data -----------------------------------------------------------------

string be32(uint32_t v) {
    return string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// Class prototypes for 10 classes of C x H x W images.
std::vector<std::vector<uint8_t>> prototypes(int size) {
    std::mt19937 g(7);
    std::vector<std::vector<uint8_t>> p(10, std::vector<uint8_t>(size_t(size)));
    for (auto &v : p)
        for (auto &x : v) x = uint8_t(g() % 256);
    return p;
}

// n noisy samples of the prototypes, labels cycling with a random start.
void synth(int n, int size, uint32_t seed, std::vector<uint8_t> &pix, std::vector<uint8_t> &lab) {
    auto protos = prototypes(size);
    std::mt19937 g(seed);
    std::normal_distribution<float> noise(0, 110);
    for (int i = 0; i < n; ++i) {
        int y = int(g() % 10);
        lab.push_back(uint8_t(y));
        for (int j = 0; j < size; ++j)
            pix.push_back(uint8_t(std::min(255.f, std::max(0.f, std::round(protos[size_t(y)][size_t(j)] + noise(g))))));
    }
}

void writeMnist(const string &d, int h, int w, int ntrain, int ntest) {
    for (auto [prefix, n, seed] : {std::tuple<string, int, uint32_t>{"train", ntrain, 1}, {"t10k", ntest, 2}}) {
        std::vector<uint8_t> pix, lab;
        synth(n, h * w, seed, pix, lab);
        spit(d + "/" + prefix + "-images-idx3-ubyte", be32(0x803) + be32(uint32_t(n)) + be32(uint32_t(h)) +
                                                          be32(uint32_t(w)) + string(pix.begin(), pix.end()));
        spit(d + "/" + prefix + "-labels-idx1-ubyte", be32(0x801) + be32(uint32_t(n)) + string(lab.begin(), lab.end()));
    }
}

std::vector<string> field(const string &out, const string &key) {
    std::vector<string> v;
    std::istringstream in(out);
    string line;
    while (std::getline(in, line)) {
        if (line.rfind("epoch ", 0) != 0) continue;
        size_t p = line.find(" " + key + " ");
        if (p == string::npos) continue;
        p += key.size() + 2;
        v.push_back(line.substr(p, line.find(' ', p) - p));
    }
    return v;
}

std::vector<double> numbers(const std::vector<string> &v) {
    std::vector<double> r;
    for (auto &s : v) r.push_back(std::atof(s.c_str()));
    return r;
}

void writePgm(const string &path, int w, int h, const std::vector<uint8_t> &px, bool ascii) {
    std::ostringstream o;
    o << (ascii ? "P2" : "P5") << "\n# test image\n" << w << " " << h << "\n255\n";
    if (ascii)
        for (uint8_t p : px) o << int(p) << "\n";
    else
        o << string(px.begin(), px.end());
    spit(path, o.str());
}

void writePng(const string &path, int w, int h, const std::vector<uint8_t> &px, bool colour) {
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = uint32_t(w), img.height = uint32_t(h);
    img.format = colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    ASSERT_TRUE(png_image_write_to_file(&img, path.c_str(), 0, px.data(), 0, nullptr)) << img.message;
}

// ---- tests --------------------------------------------------------------------------

TEST_F(CnnrtTest, HelpAndVersion) {
    Result r = cnnrt("--help");
    EXPECT_EQ(r.rc, 0);
    EXPECT_NE(r.out.find("usage: cnnrt"), string::npos);
    r = cnnrt("train --help");
    EXPECT_EQ(r.rc, 0);
    EXPECT_NE(r.out.find("--lr-step"), string::npos);
    EXPECT_EQ(cnnrt("eval --help").rc, 0);
    EXPECT_EQ(cnnrt("predict --help").rc, 0);
    r = cnnrt("--version");
    EXPECT_EQ(r.rc, 0);
    EXPECT_EQ(r.out.rfind("cnnrt", 0), 0u);
}

TEST_F(CnnrtTest, TrainingImprovesAccuracyAndEvalAgrees) {
    writeMnist(dir, 8, 8, 1000, 300);
    Result r = cnnrt("train " + lib("fake") + " --data . --epochs 4 --batch 50 --lr 0.005 --save w.safetensors");
    ASSERT_EQ(r.rc, 0) << r.err;
    auto acc = numbers(field(r.out, "test_acc"));
    ASSERT_EQ(acc.size(), 4u) << r.out;
    EXPECT_GT(acc.back(), acc.front()) << r.out;
    EXPECT_GT(acc.back(), 0.8) << r.out;
    auto loss = numbers(field(r.out, "train_loss"));
    EXPECT_LT(loss.back(), loss.front()) << r.out;
    // The default checkpoint is SAVE.ckpt, with the tool's state next to it.
    EXPECT_FALSE(slurp(dir + "/w.safetensors.ckpt").empty());
    EXPECT_NE(slurp(dir + "/w.safetensors.ckpt.state").find("epochs_done 4"), string::npos);

    Result e = cnnrt("eval " + lib("fake") + " --weights w.safetensors --data .");
    ASSERT_EQ(e.rc, 0) << e.err;
    char want[32];
    std::snprintf(want, sizeof want, "test accuracy %.4f", acc.back());
    EXPECT_NE(e.out.find(want), string::npos) << e.out << "\n" << r.out;
    EXPECT_NE(e.out.find("class  samples  correct  accuracy"), string::npos) << e.out;
    // Untrained: about chance.
    Result e0 = cnnrt("eval " + lib("fake") + " --data .");
    ASSERT_EQ(e0.rc, 0) << e0.err;
    EXPECT_NE(e0.out.find("test accuracy 0.0") == string::npos && e0.out.find("test accuracy 0.1") == string::npos &&
                  e0.out.find("test accuracy 0.2") == string::npos,
              true)
        << e0.out;
}

TEST_F(CnnrtTest, AdamAndLearningRateSchedule) {
    writeMnist(dir, 8, 8, 500, 200);
    Result r = cnnrt("train " + lib("fake") + " --data . --epochs 5 --optimizer adam --lr 0.01 --lr-step 2 --lr-gamma 0.5 --no-progress");
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(field(r.out, "lr"), (std::vector<string>{"0.01", "0.01", "0.005", "0.005", "0.0025"})) << r.out;
    EXPECT_GT(numbers(field(r.out, "test_acc")).back(), 0.8) << r.out;
}

TEST_F(CnnrtTest, ResumeIsBitIdentical) {
    writeMnist(dir, 8, 8, 403, 100);  // 403 samples: the last batch is partial
    for (string opt : {"--optimizer sgd --momentum 0.9 --weight-decay 0.001 --lr-step 1 --lr-gamma 0.7",
                       "--optimizer adam --lr 0.003 --seed 42"}) {
        string base = "train " + lib("fake") + " --data . --batch 32 " + opt;
        Result a = cnnrt(base + " --epochs 4 --checkpoint a.ckpt --save a.st");
        ASSERT_EQ(a.rc, 0) << a.err;
        Result b = cnnrt(base + " --epochs 2 --checkpoint b.ckpt");
        ASSERT_EQ(b.rc, 0) << b.err;
        // Resumed with only the total epochs: the settings come from the checkpoint.
        Result c = cnnrt("train " + lib("fake") + " --data . --resume b.ckpt --epochs 4 --save c.st");
        ASSERT_EQ(c.rc, 0) << c.err;
        EXPECT_NE(c.out.find("resuming after epoch 2"), string::npos) << c.out;
        auto la = field(a.out, "train_loss"), lb = field(b.out, "train_loss"), lc = field(c.out, "train_loss");
        ASSERT_EQ(la.size(), 4u);
        ASSERT_EQ(lb.size(), 2u);
        ASSERT_EQ(lc.size(), 2u);
        EXPECT_EQ(lb[0], la[0]);
        EXPECT_EQ(lb[1], la[1]);
        EXPECT_EQ(lc[0], la[2]) << opt;
        EXPECT_EQ(lc[1], la[3]) << opt;
        auto accA = field(a.out, "test_acc");
        EXPECT_EQ(field(c.out, "test_acc"), std::vector<string>(accA.begin() + 2, accA.end()));
        EXPECT_TRUE(slurp(dir + "/a.st") == slurp(dir + "/c.st")) << opt;
        EXPECT_TRUE(slurp(dir + "/a.ckpt") == slurp(dir + "/b.ckpt")) << opt;  // a resumed run writes back to b.ckpt
        // A different seed shuffles differently (the test would notice an ignored seed).
        if (opt.find("--seed") == string::npos) {
            Result d = cnnrt(base + " --epochs 1 --seed 7");
            ASSERT_EQ(d.rc, 0) << d.err;
            EXPECT_NE(field(d.out, "train_loss")[0], la[0]);
        }
    }
}

TEST_F(CnnrtTest, ResumeErrors) {
    writeMnist(dir, 8, 8, 200, 50);
    string t = "train " + lib("fake") + " --data . ";
    ASSERT_EQ(cnnrt(t + "--epochs 2 --checkpoint k.ckpt").rc, 0);
    expectError(t + "--resume k.ckpt --epochs 2", "already done 2 epochs");
    expectError(t + "--resume k.ckpt --epochs 3 --batch 32", "--batch differs");
    expectError(t + "--resume k.ckpt --epochs 3 --optimizer adam", "--optimizer differs");
    expectError(t + "--resume nope.ckpt --epochs 3", "nope.ckpt.state not found");
    spit(dir + "/k.ckpt", slurp(dir + "/k.ckpt") + "x");
    expectError(t + "--resume k.ckpt --epochs 3", "does not match");
    spit(dir + "/k.ckpt.state", "garbage\n");
    expectError(t + "--resume k.ckpt --epochs 3", "not a cnnrt training state file");
    // The state file is checked as strictly as the weights: an edited value,
    // a NUL byte, a duplicated or unknown field, or no checksum is refused.
    ASSERT_EQ(cnnrt(t + "--epochs 2 --checkpoint s.ckpt").rc, 0);
    const string state = slurp(dir + "/s.ckpt.state");
    auto edited = [&](const string &from, const string &to) {
        size_t at = state.find(from);
        EXPECT_NE(at, string::npos) << from;
        return at == string::npos ? state : state.substr(0, at) + to + state.substr(at + from.size());
    };
    const size_t lr = state.find("\nlr ") + 1, lrEnd = state.find('\n', lr);
    const string lrLine = state.substr(lr, lrEnd - lr);
    for (const auto &[text, message] : std::vector<std::pair<string, string>>{
             {edited(lrLine, "lr 0x1p+0"), "checksum mismatch"},
             {edited("\nrng ", "\nrng 1"), "checksum mismatch"},
             {edited("\nbatch ", string("\nba\0ch ", 8)), "NUL byte"},
             {state.substr(0, state.find("state_fnv1a64")), "no state_fnv1a64 line"},
         }) {
        spit(dir + "/s.ckpt.state", text);
        expectError(t + "--resume s.ckpt --epochs 3", message);
    }
    spit(dir + "/s.ckpt.state", state);
    ASSERT_EQ(cnnrt(t + "--resume s.ckpt --epochs 3").rc, 0);
    ASSERT_EQ(cnnrt(t + "--epochs 1 --checkpoint j.ckpt").rc, 0);
    writeMnist(dir, 8, 8, 150, 50);
    expectError(t + "--resume j.ckpt --epochs 3", "trained on 200 samples");
}

TEST_F(CnnrtTest, PredictPgmPngIdx) {
    writeMnist(dir, 8, 8, 1000, 100);
    ASSERT_EQ(cnnrt("train " + lib("fake") + " --data . --epochs 3 --save w.st").rc, 0);
    auto protos = prototypes(64);
    writePgm(dir + "/three.pgm", 8, 8, protos[3], false);
    writePgm(dir + "/five.pgm", 8, 8, protos[5], true);
    writePng(dir + "/seven.png", 8, 8, protos[7], false);
    Result r = cnnrt("predict " + lib("fake") + " --weights w.st three.pgm five.pgm seven.png t10k-images-idx3-ubyte:0");
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("three.pgm\n  1. class 3  "), string::npos) << r.out;
    EXPECT_NE(r.out.find("five.pgm\n  1. class 5  "), string::npos) << r.out;
    EXPECT_NE(r.out.find("seven.png\n  1. class 7  "), string::npos) << r.out;
    EXPECT_NE(r.out.find("t10k-images-idx3-ubyte:0\n  1. class "), string::npos) << r.out;
    EXPECT_NE(r.out.find("  5. class "), string::npos) << r.out;
    EXPECT_EQ(r.out.find("  6. class "), string::npos) << r.out;

    // A model returning logits: shown as probabilities (softmax), summing to about 1.
    Result l = cnnrt("predict " + lib("fake_logits") + " --top 10 three.pgm");
    ASSERT_EQ(l.rc, 0) << l.err;
    double sum = 0;
    std::istringstream in(l.out);
    string line;
    while (std::getline(in, line))
        if (line.find(". class ") != string::npos) sum += std::atof(line.substr(line.rfind(' ')).c_str());
    EXPECT_NEAR(sum, 1.0, 0.01) << l.out;

    // Colour image into a 3-channel model: accepted; a greyscale one is not.
    std::vector<uint8_t> rgb(32 * 32 * 3, 100);
    writePng(dir + "/rgb.png", 32, 32, rgb, true);
    EXPECT_EQ(cnnrt("predict " + lib("fakergb") + " rgb.png").rc, 0);
    std::vector<uint8_t> grey32(32 * 32, 100);
    writePgm(dir + "/grey32.pgm", 32, 32, grey32, false);
    expectError("predict " + lib("fakergb") + " grey32.pgm", "greyscale image");
    expectError("predict " + lib("fake") + " rgb.png", "colour image");
    expectError("predict " + lib("fake") + " grey32.pgm", "image is 32x32");
}

TEST_F(CnnrtTest, ImageErrors) {
    writeMnist(dir, 8, 8, 20, 20);
    string p = "predict " + lib("fake") + " ";
    expectError(p + "missing.pgm", "missing.pgm");
    spit(dir + "/trunc.pgm", "P5\n8 8\n255\n" + string(10, 'x'));
    expectError(p + "trunc.pgm", "truncated image");
    spit(dir + "/bad.pgm", "P5\n8 x\n255\n");
    expectError(p + "bad.pgm", "bad or truncated image");
    spit(dir + "/big.pgm", "P2\n8 8\n10\n" + string(64 * 2, '9'));
    expectError(p + "big.pgm", "");
    spit(dir + "/zero.pgm", "P5\n0 0\n255\n");
    expectError(p + "zero.pgm", "empty image");
    std::vector<uint8_t> px(64, 9);
    writePng(dir + "/ok.png", 8, 8, px, false);
    string png = slurp(dir + "/ok.png");
    spit(dir + "/trunc.png", png.substr(0, png.size() / 2));
    expectError(p + "trunc.png", "bad PNG");
    spit(dir + "/junk.png", "\x89PNG\r\n\x1a\n garbage");
    expectError(p + "junk.png", "bad PNG");
    spit(dir + "/what.bin", "hello");
    expectError(p + "what.bin", "unsupported image format");
    expectError(p + "t10k-images-idx3-ubyte:20", "out of range");
    expectError(p + "t10k-labels-idx1-ubyte:0", "dimensions");
    expectError("predict " + lib("fake"), "at least one IMAGE");
}

TEST_F(CnnrtTest, DataErrors) {
    string t = "train " + lib("fake") + " --data . --epochs 1 ";
    expectError(t, "no train-images-idx3-ubyte");
    expectError("train " + lib("fake") + " --data nowhere", "data directory nowhere not found");
    writeMnist(dir, 8, 8, 50, 20);
    string img = slurp(dir + "/train-images-idx3-ubyte"), lab = slurp(dir + "/train-labels-idx1-ubyte");
    spit(dir + "/train-images-idx3-ubyte", img.substr(0, img.size() - 1));
    expectError(t, "truncated");
    spit(dir + "/train-images-idx3-ubyte", img.substr(0, 10));
    expectError(t, "truncated IDX header");
    spit(dir + "/train-images-idx3-ubyte", img + "xx");
    expectError(t, "unexpected bytes");
    string badMagic = img;
    badMagic[0] = 1;
    spit(dir + "/train-images-idx3-ubyte", badMagic);
    expectError(t, "bad magic number");
    string huge = be32(0x803) + be32(0x7fffffff) + be32(0x7fffffff) + be32(0x7fffffff);
    spit(dir + "/train-images-idx3-ubyte", huge);
    expectError(t, "implausible");
    spit(dir + "/train-images-idx3-ubyte", img);
    spit(dir + "/train-labels-idx1-ubyte", be32(0x801) + be32(49) + lab.substr(8, 49));
    expectError(t, "49 labels for 50 images");
    string bigLabel = lab;
    bigLabel[8 + 3] = 12;
    spit(dir + "/train-labels-idx1-ubyte", bigLabel);
    expectError(t, "has label 12 but model 'fake' has 10 outputs");
    std::remove((dir + "/t10k-labels-idx1-ubyte").c_str());
    spit(dir + "/train-labels-idx1-ubyte", lab);
    expectError(t, "t10k-labels-idx1-ubyte");
    writeMnist(dir, 8, 8, 50, 20);
    expectError("train " + lib("fake28") + " --data . --epochs 1", "takes 1x28x28 inputs but the training images are 1x8x8");
    expectError("eval " + lib("fake28") + " --data .", "takes 1x28x28 inputs but the test images are 1x8x8");
    expectError("train " + lib("fakergb") + " --data . --format cifar10", "data_batch_1.bin: no such file");
    expectError(t + "--format png", "unknown data format");
}

TEST_F(CnnrtTest, LibraryErrors) {
    writeMnist(dir, 8, 8, 50, 20);
    expectError("train " + lib("fake_notrain") + " --data .", "missing symbol 'fake_notrain_set_sgd' (library was compiled without --train)");
    // Inference alone works without the training symbols.
    EXPECT_EQ(cnnrt("eval " + lib("fake_notrain") + " --data .").rc, 0);
    expectError("eval " + lib("fake") + " --name lenet5 --data .", "missing symbol 'lenet5_create'");
    expectError("eval " + lib("fake") + " --name 'a-b' --data .", "not a valid network name");
    expectError("eval nowhere.so --data .", "cannot load model library nowhere.so");
    spit(dir + "/junk.so", "not an ELF file");
    expectError("eval junk.so --data .", "cannot load model library junk.so");
    expectError("eval " + lib("fake") + " --weights missing.st --data .", "cannot load weights from missing.st: cannot open");
    spit(dir + "/bad.st", "12345678");
    expectError("predict " + lib("fake") + " --weights bad.st x.pgm", "cannot load weights from bad.st");
    // A library relative to the current directory, without "./".
    std::system(("cp " + lib("fake") + " " + quote(dir + "/fake.so")).c_str());
    EXPECT_EQ(cnnrt("eval fake.so --data .").rc, 0);
}

TEST_F(CnnrtTest, BadFlags) {
    writeMnist(dir, 8, 8, 50, 20);
    string t = "train " + lib("fake") + " --data . ";
    expectError("", "no command");
    expectError("frobnicate", "unknown command 'frobnicate'");
    expectError(t + "--bogus 1", "unknown option '--bogus'");
    expectError(t + "-x", "unknown option '-x'");
    expectError(t + "--epochs", "--epochs needs a value");
    expectError(t + "--epochs abc", "'abc' is not an integer");
    expectError(t + "--epochs 0", "out of range");
    expectError(t + "--batch -5", "out of range");
    expectError(t + "--lr 0", "out of range");
    expectError(t + "--lr nan", "not a number");
    expectError(t + "--lr=1e999", "not a number");
    expectError(t + "--momentum 1.5", "out of range");
    expectError(t + "--optimizer rmsprop", "not sgd or adam");
    expectError(t + "--lr-gamma 0.5", "--lr-gamma needs --lr-step");
    expectError(t + "--seed -1", "not a non-negative integer");
    expectError(t + "--epochs 1 --epochs 2", "given twice");
    expectError(t + "--no-progress=1", "takes no value");
    expectError("train --data .", "exactly one MODEL.so");
    expectError("train " + lib("fake"), "needs --data");
    expectError("eval " + lib("fake"), "needs --data");
    expectError(t + "--resume a --weights b", "exclude each other");
}

TEST_F(CnnrtTest, Cifar10) {
    auto write = [&](const string &name, int n, uint32_t seed) {
        std::vector<uint8_t> pix, lab;
        synth(n, 3072, seed, pix, lab);
        string s;
        for (int i = 0; i < n; ++i) s += char(lab[size_t(i)]) + string(pix.begin() + i * 3072, pix.begin() + (i + 1) * 3072);
        spit(dir + "/" + name, s);
    };
    write("data_batch_1.bin", 200, 1);
    write("data_batch_2.bin", 100, 3);
    write("test_batch.bin", 100, 2);
    Result r = cnnrt("train " + lib("fakergb") + " --data . --epochs 3 --lr 0.003");
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("on 300 cifar10 samples, testing on 100"), string::npos) << r.out;
    EXPECT_GT(numbers(field(r.out, "test_acc")).back(), 0.5) << r.out;
    expectError("train " + lib("fake") + " --data .", "takes 1x8x8 inputs but the training images are 3x32x32");
    string b = slurp(dir + "/data_batch_2.bin");
    spit(dir + "/data_batch_2.bin", b.substr(0, b.size() - 5));
    expectError("train " + lib("fakergb") + " --data .", "not a positive multiple of 3073");
    b[3073] = 10;
    spit(dir + "/data_batch_2.bin", b);
    expectError("train " + lib("fakergb") + " --data .", "record 1 has label 10");
}

TEST_F(CnnrtTest, RealMnist) {
    string mnist = MNIST_DIR;
    if (access((mnist + "/train-images-idx3-ubyte").c_str(), R_OK) != 0) GTEST_SKIP() << "no MNIST in " << mnist;
    Result r = cnnrt("train " + lib("fake28") + " --data " + quote(mnist) + " --epochs 2 --batch 64 --lr 0.01 --save w.st");
    ASSERT_EQ(r.rc, 0) << r.err;
    auto acc = numbers(field(r.out, "test_acc"));
    ASSERT_EQ(acc.size(), 2u);
    EXPECT_GT(acc.back(), 0.8) << r.out;
    Result p = cnnrt("predict " + lib("fake28") + " --weights w.st " + quote(mnist + "/t10k-images-idx3-ubyte:0"));
    EXPECT_EQ(p.rc, 0) << p.err;
}

}  // namespace
