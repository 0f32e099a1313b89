// cnnrt's file readers: IDX images and labels, PGM/PPM and PNG images, and a
// checkpoint's training state. Any file is read or refused with an exception
// carrying a message, never a crash.
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
    return 0;
}
