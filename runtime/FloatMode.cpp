// Denormal floats flushed to zero while cnnrt computes.
//
// On Intel cores an FMA or multiply that meets a denormal operand or result
// takes a microcode assist of ~100 cycles instead of ~4. The kernels' register
// tiles round partial vectors up and compute on whatever lies past a row's
// end in their scratch buffers (discarded lanes, never stored), and that
// memory can hold denormal bit patterns; gradients far down a network can be
// denormal too. On a 2-core Intel Xeon (AVX-512) a LeNet-5 training step at
// batch 64 took 13-14 ms on one thread with IEEE denormals and 4.9 ms with
// these modes; its second conv's forward alone went from 8.1 to 0.57 ms.
// AMD Zen runs denormals at full speed, where this changes nothing.
//
// FTZ (results) and DAZ (operands) are MXCSR bits, per thread: a call sets
// them on its calling thread and restores the caller's own on return, and the
// pool's workers, cnnrt's threads, keep them set. Results differ only where a
// value below 1.18e-38 would have been kept (TensorFlow's executor does the
// same for its kernels).
#include "runtime/Internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define CNNRT_HAS_MXCSR 1
#endif

namespace cnnrt {
namespace {

#ifdef CNNRT_HAS_MXCSR
constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
#endif

}  // namespace

FlushDenormals::FlushDenormals() {
#ifdef CNNRT_HAS_MXCSR
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
#endif
}

FlushDenormals::~FlushDenormals() {
#ifdef CNNRT_HAS_MXCSR
    _mm_setcsr(saved_);
#endif
}

void flush_denormals_in_this_thread() {
#ifdef CNNRT_HAS_MXCSR
    _mm_setcsr(_mm_getcsr() | kFlushToZero | kDenormalsAreZero);
#endif
}

}  // namespace cnnrt
