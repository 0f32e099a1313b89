// cnnrt: this thread's last error (what cnnrt_last_error returns), Halide's error
// messages caught into it, and the hooks into Halide's runtime installed once.
#include <HalideRuntime.h>

#include <mutex>
#include <string>

#include "runtime/Internal.h"
#include "runtime/Runtime.h"

// Provided by Halide's standalone runtime, which is linked into every model .so. Weak so
// that the runtime also links (and works, minus Halide's messages) without it, e.g. in
// unit tests whose kernels are plain C++.
extern "C" {
#pragma weak halide_set_error_handler
}

namespace cnnrt {

namespace {
thread_local std::string t_error;
thread_local bool t_error_oom = false;  // set_error itself ran out of memory
thread_local std::string t_halide_msg;  // last message from Halide's error handler

void halide_error_to_thread(void *, const char *msg) {
    try {
        t_halide_msg = msg ? msg : "";
        while (!t_halide_msg.empty() &&
               (t_halide_msg.back() == '\n' || t_halide_msg.back() == ' '))
            t_halide_msg.pop_back();
    } catch (...) {
    }
}

}  // namespace

std::string &halide_message() { return t_halide_msg; }

void install_halide_hooks() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (&halide_set_error_handler != nullptr) halide_set_error_handler(halide_error_to_thread);
        install_scratch_memory();
    });
}

void set_error(std::string msg) {
    try {
        t_error = std::move(msg);
        t_error_oom = false;
    } catch (...) {
        t_error_oom = true;
    }
}

void clear_error() {
    t_error.clear();
    t_error_oom = false;
}

}  // namespace cnnrt

extern "C" const char *cnnrt_last_error(void) {
    if (cnnrt::t_error_oom) return "out of memory";
    return cnnrt::t_error.c_str();
}
