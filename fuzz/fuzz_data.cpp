// cnnrt's file readers: IDX images and labels, CIFAR-10 batches, PGM/PPM and
// PNG images, and a checkpoint's training state. Any file is read or refused with an exception
// carrying a message, never a crash.
#include <sys/stat.h>

#include <cstdlib>
#include <stdexcept>

#include "fuzz/FuzzInput.h"
#include "tools/cnnrt/Dataset.h"
#include "tools/cnnrt/Image.h"
#include "tools/cnnrt/TrainState.h"

template <class F>
void refusedOrRead(F read) {
    try {
        read();
    } catch (const std::exception &e) {
        if (!*e.what()) std::abort();
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string &path = cnnc_fuzz::asFile(data, size);
    refusedOrRead([&] { cnnrt_tool::readIdxImages(path); });
    refusedOrRead([&] { cnnrt_tool::readIdxLabels(path); });
    refusedOrRead([&] { cnnrt_tool::loadImage(path); });
    refusedOrRead([&] { cnnrt_tool::loadImage(path + ":1"); });
    refusedOrRead([&] { cnnrt_tool::loadTrainState(path); });
    // A CIFAR-10 folder whose training and test batches are the input.
    static const std::string cifar = [] {
        std::string dir = "/tmp/cnnc-fuzz-cifar-" + std::to_string(getpid());
        mkdir(dir.c_str(), 0700);
        return dir;
    }();
    cnnc_fuzz::writeFile(cifar + "/data_batch_1.bin", data, size);
    cnnc_fuzz::writeFile(cifar + "/test_batch.bin", data, size);
    refusedOrRead([&] { cnnrt_tool::loadSplit(cifar, "cifar10"); });
    return 0;
}
