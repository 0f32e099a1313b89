// The training run's own progress, kept next to the runtime's checkpoint as
// CKPT.state: a small text file written atomically (temporary file + rename).
// It records the hyper-parameters, the epochs done, the shuffling PRNG's state,
// and the checkpoint's size and FNV-1a hash, so a checkpoint and a state file
// from different moments are never combined.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnrt_tool {

struct TrainConfig {
    std::string optimizer = "sgd";
    float lr = 0.01f, momentum = 0.9f, weightDecay = 0.0f;
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    int64_t batch = 64, lrStep = 0;
    float lrGamma = 0.3f;
    uint64_t seed = 1;

    // The learning rate of epoch e (0-based): lr * gamma^floor(e / lrStep), as repeated float products.
    float lrForEpoch(int64_t epoch) const;
};

struct TrainState {
    TrainConfig config;
    int64_t epochsDone = 0;
    int64_t trainSamples = 0;
    uint64_t rng = 0;  // shuffling PRNG state at the start of epoch epochsDone
    uint64_t checkpointBytes = 0, checkpointHash = 0;
};

// splitmix64: the shuffling PRNG. One stream for the whole run, continued across epochs.
uint64_t nextRandom(uint64_t &state);
uint64_t initialRandomState(uint64_t seed);
// Fisher-Yates over 0..n-1 (identity first), unbiased bounded draws.
std::vector<int64_t> shuffledOrder(int64_t n, uint64_t &state);

// FNV-1a 64 of a file's bytes; size through *bytes.
uint64_t fileHash(const std::string &path, uint64_t *bytes);

void writeTextAtomically(const std::string &path, const std::string &text);
void saveTrainState(const std::string &path, const TrainState &s);
TrainState loadTrainState(const std::string &path);

}  // namespace cnnrt_tool
