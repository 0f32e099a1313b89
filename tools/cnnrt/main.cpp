// cnnrt: trains, evaluates and runs any library compiled by cnnc, through its C API.
//   cnnrt train   MODEL.so --data DIR [...]
//   cnnrt eval    MODEL.so --weights W.safetensors --data DIR
//   cnnrt predict MODEL.so --weights W.safetensors IMAGE...
// Every error: "cnnrt: error: ..." on stderr, exit status 1.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/cnnrt/Dataset.h"
#include "tools/cnnrt/Image.h"
#include "tools/cnnrt/ModelLibrary.h"
#include "tools/cnnrt/Options.h"
#include "tools/cnnrt/Progress.h"
#include "tools/cnnrt/TrainState.h"
#include "tools/cnnrt/Visualize.h"

#ifndef CNNC_VERSION
#define CNNC_VERSION "unknown"
#endif

using namespace cnnrt_tool;
using std::runtime_error;
using std::string;

namespace {

const char *kUsage =
    "usage: cnnrt <command> MODEL.so [options]\n"
    "\n"
    "Runs a network library compiled by cnnc through its C API.\n"
    "\n"
    "commands:\n"
    "  train    train on a data set (needs a library compiled with --train)\n"
    "  eval     test-set accuracy, mean loss and per-class accuracy\n"
    "  predict  top-5 classes of images (PGM, PPM, PNG, or FILE.idx:K)\n"
    "  visualize  PNGs of filters, feature maps, saliency, top-k patches\n"
    "\n"
    "  cnnrt <command> --help   options of a command\n"
    "  cnnrt --version\n";

const char *kTrainHelp =
    "usage: cnnrt train MODEL.so --data DIR [options]\n"
    "\n"
    "  --data DIR            MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "                        t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) or CIFAR-10 binary\n"
    "                        batches (data_batch_1..5.bin, test_batch.bin)\n"
    "  --format F            mnist or cifar10 (default: detected from the files)\n"
    "  --name NAME           network name (default: the library's file stem)\n"
    "  --epochs N            total epochs (default 10; with --resume, the total to reach)\n"
    "  --batch N             batch size (default 64)\n"
    "  --optimizer O         sgd or adam (default sgd)\n"
    "  --lr X                learning rate (default 0.01 for sgd, 0.001 for adam)\n"
    "  --momentum X          SGD momentum (default 0.9)\n"
    "  --weight-decay X      L2 weight decay (default 0)\n"
    "  --beta1 X, --beta2 X, --eps X   Adam (defaults 0.9, 0.999, 1e-8)\n"
    "  --lr-step N           multiply the learning rate by --lr-gamma every N epochs\n"
    "  --lr-gamma X          (default 0.3)\n"
    "  --seed N              shuffling seed (default 1)\n"
    "  --save W.safetensors  final weights\n"
    "  --checkpoint CKPT     after each epoch: weights and optimiser state in CKPT, this tool's\n"
    "                        progress in CKPT.state (default: the --resume file, else SAVE.ckpt\n"
    "                        with --save, else none)\n"
    "  --resume CKPT         continue from CKPT's next epoch, bit-identical to an uninterrupted run;\n"
    "                        hyper-parameters default to the checkpoint's, and must not differ\n"
    "  --weights W           start from these weights instead of the initial ones\n"
    "  --no-progress         no progress line on stderr\n";

const char *kEvalHelp =
    "usage: cnnrt eval MODEL.so --data DIR [--weights W.safetensors] [options]\n"
    "\n"
    "Test-set accuracy, mean cross-entropy and a per-class accuracy table.\n"
    "  --data DIR, --format F, --name NAME, --batch N (default 256), --no-progress: as for train\n"
    "  --weights W           weights to load (default: the model's initial weights)\n";

const char *kPredictHelp =
    "usage: cnnrt predict MODEL.so [--weights W.safetensors] [--name NAME] [--top K] IMAGE...\n"
    "\n"
    "Top-K (default 5) classes with probabilities for each image. IMAGE: a PGM/PPM (P2, P5,\n"
    "P3, P6) or PNG file of the model's input size, greyscale for 1 channel, colour for 3;\n"
    "or FILE.idx:K, the K-th image (from 0) of an IDX image file. Outputs that are not a\n"
    "probability vector are shown through softmax.\n";

// Checks and converts a row of outputs to probabilities: kept if it already is one, else softmax.
void toProbabilities(float *row, int n) {
    double sum = 0;
    bool inRange = true;
    for (int i = 0; i < n; ++i) {
        sum += row[i];
        if (!(row[i] >= -1e-6f && row[i] <= 1.0f + 1e-6f)) inRange = false;
    }
    if (inRange && std::fabs(sum - 1.0) < 1e-3) return;
    float mx = -INFINITY;
    for (int i = 0; i < n; ++i) mx = std::max(mx, row[i]);
    double z = 0;
    for (int i = 0; i < n; ++i) z += std::exp(double(row[i]) - mx);
    for (int i = 0; i < n; ++i) row[i] = float(std::exp(double(row[i]) - mx) / z);
}

void checkDims(const ModelLibrary &m, const Dataset &ds, const string &what) {
    if (ds.channels != m.channels() || ds.height != m.height() || ds.width != m.width())
        throw runtime_error("model '" + m.name() + "' takes " + std::to_string(m.channels()) + "x" +
                            std::to_string(m.height()) + "x" + std::to_string(m.width()) + " inputs but the " + what +
                            " images are " + ds.dimsStr());
    for (size_t i = 0; i < ds.labels.size(); ++i)
        if (ds.labels[i] < 0 || ds.labels[i] >= m.outputSize())
            throw runtime_error(what + " sample " + std::to_string(i) + " has label " + std::to_string(ds.labels[i]) +
                                " but model '" + m.name() + "' has " + std::to_string(m.outputSize()) + " outputs");
}

struct EvalResult {
    int64_t samples = 0, correct = 0;
    double lossSum = 0;
    std::vector<int64_t> classSamples, classCorrect;
};

EvalResult evaluate(ModelLibrary &m, const Dataset &test, int batch, Progress &progress, const string &label) {
    EvalResult r;
    int nc = m.outputSize();
    r.classSamples.assign(size_t(nc), 0);
    r.classCorrect.assign(size_t(nc), 0);
    int nb = int((test.count + batch - 1) / batch);
    std::vector<float> in(size_t(batch) * size_t(test.sampleSize())), out(size_t(batch) * size_t(nc));
    std::vector<int32_t> labels(static_cast<size_t>(batch));
    std::vector<int64_t> order(static_cast<size_t>(batch));
    progress.beginPhase(label, nb);
    for (int b = 0; b < nb; ++b) {
        int n = int(std::min<int64_t>(batch, test.count - int64_t(b) * batch));
        for (int i = 0; i < n; ++i) order[size_t(i)] = int64_t(b) * batch + i;
        test.gather(order.data(), n, in.data(), labels.data());
        m.infer(in.data(), n, out.data());
        for (int i = 0; i < n; ++i) {
            float *row = out.data() + size_t(i) * size_t(nc);
            toProbabilities(row, nc);
            int best = int(std::max_element(row, row + nc) - row);
            int y = labels[size_t(i)];
            r.classSamples[size_t(y)]++;
            if (best == y) r.correct++, r.classCorrect[size_t(y)]++;
            r.lossSum += -std::log(std::max(double(row[y]), 1e-12));
        }
        r.samples += n;
        char metrics[64];
        std::snprintf(metrics, sizeof metrics, "acc %.4f", double(r.correct) / double(r.samples));
        progress.update(b + 1, r.samples, metrics);
    }
    progress.clear();
    return r;
}

// ---- train ------------------------------------------------------------------------

int cmdTrain(const std::vector<string> &args) {
    Options o = parseOptions(args,
                             {"data", "format", "name", "epochs", "batch", "optimizer", "lr", "momentum",
                              "weight-decay", "beta1", "beta2", "eps", "lr-step", "lr-gamma", "seed", "save",
                              "checkpoint", "resume", "weights"},
                             {"help", "no-progress"});
    if (o.has("help")) return std::fputs(kTrainHelp, stdout), 0;
    if (o.positional.size() != 1) throw runtime_error("train needs exactly one MODEL.so (see cnnrt train --help)");
    if (!o.has("data")) throw runtime_error("train needs --data DIR");
    if (o.has("resume") && o.has("weights")) throw runtime_error("--weights and --resume exclude each other");

    TrainConfig c;
    c.optimizer = o.str("optimizer", "sgd");
    if (c.optimizer != "sgd" && c.optimizer != "adam")
        throw runtime_error("--optimizer: '" + c.optimizer + "' is not sgd or adam");
    c.lr = o.real("lr", c.optimizer == "adam" ? 0.001f : 0.01f, 0, 1e6, true);
    c.momentum = o.real("momentum", c.momentum, 0, 1);
    c.weightDecay = o.real("weight-decay", c.weightDecay, 0, 1e6);
    c.beta1 = o.real("beta1", c.beta1, 0, 1);
    c.beta2 = o.real("beta2", c.beta2, 0, 1);
    c.eps = o.real("eps", c.eps, 0, 1, true);
    c.batch = o.integer("batch", c.batch, 1, 1 << 20);
    c.lrStep = o.integer("lr-step", 0, 0, int64_t(1) << 40);
    c.lrGamma = o.real("lr-gamma", c.lrGamma, 0, 1e6, true);
    c.seed = o.uint64("seed", c.seed);
    if (o.has("lr-gamma") && !o.has("lr-step")) throw runtime_error("--lr-gamma needs --lr-step");
    int64_t epochs = o.integer("epochs", 10, 1, 1000000);

    string save = o.str("save");
    // Checkpoints go to --checkpoint, else back to the --resume file, else SAVE.ckpt.
    string ckpt = o.str("checkpoint", o.has("resume") ? o.str("resume") : !save.empty() ? save + ".ckpt" : "");

    TrainState state;
    if (o.has("resume")) {
        string resume = o.str("resume");
        state = loadTrainState(resume + ".state");
        if (!fileExists(resume)) throw runtime_error("checkpoint " + resume + " not found");
        uint64_t bytes = 0, hash = fileHash(resume, &bytes);
        if (bytes != state.checkpointBytes || hash != state.checkpointHash)
            throw runtime_error(resume + " does not match " + resume +
                                ".state (they were written by different epochs or runs)");
        // Hyper-parameters come from the checkpoint; an explicit flag must agree.
        const TrainConfig &s = state.config;
        auto agree = [&](const char *flag, bool same) {
            if (o.has(flag) && !same)
                throw runtime_error(string("--") + flag + " differs from the value the checkpoint was trained with " +
                                    "(a resumed run must use the same settings)");
        };
        agree("optimizer", c.optimizer == s.optimizer);
        agree("lr", c.lr == s.lr);
        agree("momentum", c.momentum == s.momentum);
        agree("weight-decay", c.weightDecay == s.weightDecay);
        agree("beta1", c.beta1 == s.beta1);
        agree("beta2", c.beta2 == s.beta2);
        agree("eps", c.eps == s.eps);
        agree("batch", c.batch == s.batch);
        agree("lr-step", c.lrStep == s.lrStep);
        agree("lr-gamma", c.lrGamma == s.lrGamma);
        agree("seed", c.seed == s.seed);
        c = s;
        if (state.epochsDone >= epochs)
            throw runtime_error("checkpoint " + resume + " has already done " + std::to_string(state.epochsDone) +
                                " epochs; ask for more with --epochs");
    } else {
        state.config = c;
        state.rng = initialRandomState(c.seed);
    }

    ModelLibrary m(o.positional[0], o.str("name"), true);
    Split data = loadSplit(o.str("data"), o.str("format"));
    checkDims(m, data.train, "training");
    checkDims(m, data.test, "test");
    if (o.has("resume") && state.trainSamples != data.train.count)
        throw runtime_error("the checkpoint was trained on " + std::to_string(state.trainSamples) +
                            " samples, this data set has " + std::to_string(data.train.count));
    state.trainSamples = data.train.count;

    if (o.has("resume")) {
        m.loadCheckpoint(o.str("resume"));
    } else {
        if (o.has("weights")) m.loadWeights(o.str("weights"));
        if (c.optimizer == "adam") m.setAdam(c.lr, c.beta1, c.beta2, c.eps, c.weightDecay);
        else m.setSgd(c.lr, c.momentum, c.weightDecay);
    }

    const int batch = int(c.batch);
    const int64_t n = data.train.count;
    const int nb = int((n + batch - 1) / batch);
    std::printf("cnnrt: training '%s' (%dx%dx%d -> %d) on %lld %s samples, testing on %lld; %s lr %g, batch %d\n",
                m.name().c_str(), m.channels(), m.height(), m.width(), m.outputSize(), static_cast<long long>(n),
                data.format.c_str(), static_cast<long long>(data.test.count), c.optimizer.c_str(), double(c.lr), batch);
    if (state.epochsDone > 0)
        std::printf("cnnrt: resuming after epoch %lld\n", static_cast<long long>(state.epochsDone));
    std::fflush(stdout);

    Progress progress((epochs - state.epochsDone) * (n + data.test.count), !o.has("no-progress"));
    std::vector<float> in(size_t(batch) * size_t(data.train.sampleSize()));
    std::vector<int32_t> labels(static_cast<size_t>(batch));
    for (int64_t e = state.epochsDone; e < epochs; ++e) {
        auto t0 = std::chrono::steady_clock::now();
        float lr = c.lrForEpoch(e);
        m.setLr(lr);
        std::vector<int64_t> order = shuffledOrder(n, state.rng);
        string label = "epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs);
        progress.beginPhase(label + " train", nb);
        double lossSum = 0;
        for (int b = 0; b < nb; ++b) {
            int k = int(std::min<int64_t>(batch, n - int64_t(b) * batch));
            data.train.gather(order.data() + int64_t(b) * batch, k, in.data(), labels.data());
            float loss = m.trainStep(in.data(), labels.data(), k);
            lossSum += double(loss) * k;
            char metrics[64];
            std::snprintf(metrics, sizeof metrics, "loss %.4f", lossSum / double(int64_t(b) * batch + k));
            progress.update(b + 1, int64_t(b) * batch + k, metrics);
        }
        progress.clear();
        EvalResult r = evaluate(m, data.test, std::max(batch, 256), progress, label + " test");
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("epoch %lld/%lld  lr %.6g  train_loss %.9g  test_loss %.6f  test_acc %.4f (%lld/%lld)  %.1fs\n",
                    static_cast<long long>(e + 1), static_cast<long long>(epochs), double(lr), lossSum / double(n),
                    r.lossSum / double(r.samples), double(r.correct) / double(r.samples),
                    static_cast<long long>(r.correct), static_cast<long long>(r.samples), secs);
        std::fflush(stdout);
        if (!ckpt.empty()) {
            m.saveCheckpoint(ckpt);
            state.epochsDone = e + 1;
            state.checkpointHash = fileHash(ckpt, &state.checkpointBytes);
            saveTrainState(ckpt + ".state", state);
        }
    }
    if (!save.empty()) {
        m.saveWeights(save);
        std::printf("cnnrt: weights saved to %s\n", save.c_str());
    }
    return 0;
}

// ---- eval -------------------------------------------------------------------------

int cmdEval(const std::vector<string> &args) {
    Options o = parseOptions(args, {"data", "format", "name", "weights", "batch"}, {"help", "no-progress"});
    if (o.has("help")) return std::fputs(kEvalHelp, stdout), 0;
    if (o.positional.size() != 1) throw runtime_error("eval needs exactly one MODEL.so (see cnnrt eval --help)");
    if (!o.has("data")) throw runtime_error("eval needs --data DIR");
    int batch = int(o.integer("batch", 256, 1, 1 << 20));
    ModelLibrary m(o.positional[0], o.str("name"), false);
    if (o.has("weights")) m.loadWeights(o.str("weights"));
    else std::fprintf(stderr, "cnnrt: note: no --weights, evaluating the model's initial weights\n");
    Split data = loadSplit(o.str("data"), o.str("format"));
    checkDims(m, data.test, "test");
    Progress progress(data.test.count, !o.has("no-progress"));
    EvalResult r = evaluate(m, data.test, batch, progress, "eval");
    std::printf("test accuracy %.4f (%lld/%lld)  mean loss %.6f\n", double(r.correct) / double(r.samples),
                static_cast<long long>(r.correct), static_cast<long long>(r.samples), r.lossSum / double(r.samples));
    std::printf("%6s %8s %8s %9s\n", "class", "samples", "correct", "accuracy");
    for (size_t k = 0; k < r.classSamples.size(); ++k) {
        if (r.classSamples[k] == 0) continue;
        std::printf("%6zu %8lld %8lld %9.4f\n", k, static_cast<long long>(r.classSamples[k]),
                    static_cast<long long>(r.classCorrect[k]), double(r.classCorrect[k]) / double(r.classSamples[k]));
    }
    return 0;
}

// ---- predict ----------------------------------------------------------------------

int cmdPredict(const std::vector<string> &args) {
    Options o = parseOptions(args, {"name", "weights", "top"}, {"help"});
    if (o.has("help")) return std::fputs(kPredictHelp, stdout), 0;
    if (o.positional.size() < 2) throw runtime_error("predict needs MODEL.so and at least one IMAGE");
    int top = int(o.integer("top", 5, 1, 1 << 20));
    ModelLibrary m(o.positional[0], o.str("name"), false);
    if (o.has("weights")) m.loadWeights(o.str("weights"));
    else std::fprintf(stderr, "cnnrt: note: no --weights, predicting with the model's initial weights\n");
    top = std::min(top, m.outputSize());
    std::vector<float> out(size_t(m.outputSize()));
    for (size_t i = 1; i < o.positional.size(); ++i) {
        const string &spec = o.positional[i];
        Image img = loadImage(spec);
        checkImageFits(img, spec, m.name(), m.channels(), m.height(), m.width());
        m.infer(img.data.data(), 1, out.data());
        toProbabilities(out.data(), m.outputSize());
        std::vector<int> idx(out.size());
        for (size_t k = 0; k < idx.size(); ++k) idx[k] = int(k);
        std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return out[size_t(a)] > out[size_t(b)]; });
        std::printf("%s\n", spec.c_str());
        for (int k = 0; k < top; ++k)
            std::printf("  %d. class %d  %.4f\n", k + 1, idx[size_t(k)], double(out[size_t(idx[size_t(k)])]));
    }
    return 0;
}

int run(int argc, char **argv) {
    std::vector<string> args(argv + 1, argv + argc);
    if (args.empty()) throw runtime_error("no command given (see cnnrt --help)");
    string cmd = args[0];
    args.erase(args.begin());
    if (cmd == "--help" || cmd == "-h" || cmd == "help") return std::fputs(kUsage, stdout), 0;
    if (cmd == "--version") return std::printf("cnnrt (cnnc) %s\n", CNNC_VERSION), 0;
    if (cmd == "train") return cmdTrain(args);
    if (cmd == "eval") return cmdEval(args);
    if (cmd == "predict") return cmdPredict(args);
    if (cmd == "visualize") return cmdVisualize(args);
    throw runtime_error("unknown command '" + cmd + "' (see cnnrt --help)");
}

}  // namespace

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const std::bad_alloc &) {
        std::fprintf(stderr, "cnnrt: error: out of memory\n");
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cnnrt: error: %s\n", e.what());
    }
    return 1;
}
