/* The contract between generated code and the runtime.
 *
 * For each network, codegen emits a C file holding one cnnrt_model_desc (tables of
 * parameters, tensors and kernel calls) plus the exported <name>_* functions, which
 * forward to the cnnrt_* functions in Runtime.h. The runtime is generic: it knows
 * nothing about ops, only buffers and kernel calls. Plain C so the emitted file
 * needs no C++ compiler features. */
#ifndef CNNRT_MODEL_DESC_H
#define CNNRT_MODEL_DESC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A Halide pipeline compiled ahead of time, called through its _argv entry point:
 * args[i] is a struct halide_buffer_t* for each buffer argument, in order. */
typedef int (*cnnrt_kernel_fn)(void **args);

enum cnnrt_init {
    CNNRT_INIT_UNIFORM_FAN_IN = 0, /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's default */
    CNNRT_INIT_ONES = 1,
    CNNRT_INIT_ZEROS = 2
};

typedef struct {
    const char *name;     /* "features.0.weight" */
    int rank;             /* 1..4 */
    int64_t shape[4];     /* PyTorch layout, outermost first */
    int init;             /* enum cnnrt_init */
    int64_t fan_in;
    /* A derived parameter (a folded batchnorm, filters in the layout a
     * schedule reads) is written by prepare_kernels[prepare] from parameters
     * listed before it, and is never loaded or saved; -1: a parameter of its
     * own, loaded and saved. */
    int prepare;
    /* A buffer (batchnorm running statistics) is state, not a learned
     * parameter: no gradient, no optimiser; training updates it through a
     * CNNRT_STORAGE_NEW_PARAM tensor. */
    int buffer;
} cnnrt_param_desc;

enum cnnrt_storage {
    CNNRT_STORAGE_INPUT = 0,      /* the caller's input array */
    CNNRT_STORAGE_OUTPUT = 1,     /* the caller's output array */
    CNNRT_STORAGE_PARAM = 2,      /* parameter `index` */
    CNNRT_STORAGE_ACTIVATION = 3, /* the per-call arena at `offset` */
    /* Training (train_kernels only): */
    CNNRT_STORAGE_TRAIN = 4,      /* the per-step training arena at `offset` (same layout rules as ACTIVATION) */
    CNNRT_STORAGE_GRAD = 5,       /* gradient of parameter `index`: the parameter's shape, zeroed before each step */
    CNNRT_STORAGE_NEW_PARAM = 6,  /* the step's new value of buffer parameter `index` (running statistics),
                                     the parameter's shape, copied into the weights when the step succeeds */
    CNNRT_STORAGE_LABELS = 7,     /* the caller's int32 labels: a 1-D buffer of extent batch */
    CNNRT_STORAGE_SEED = 8,       /* a uint32 scalar (the step's random seed for dropout): args[i] points at it */
    /* Layers (layer_kernels and gradient_kernels only): */
    CNNRT_STORAGE_LAYER = 9       /* the per-call layer arena at `offset` (same layout rules as ACTIVATION) */
    /* Inference kernels may not use the training storages; training kernels may
     * use INPUT, PARAM and the training storages (not OUTPUT or ACTIVATION), and
     * their last argument must be a TRAIN, GRAD or NEW_PARAM tensor. GRAD only for
     * parameters that are neither buffers nor derived; NEW_PARAM only for
     * (non-derived) buffers. A NEW_PARAM buffer starts each step holding the
     * current value; the TRAIN arena starts zeroed. */
};

/* A buffer a kernel reads or writes. Activations scale with the batch: a tensor
 * with per-sample offset o and size s occupies floats [o*batch, (o+s)*batch) of
 * the arena, laid out [batch, C, H, W]. */
typedef struct {
    int storage;          /* enum cnnrt_storage */
    int index;            /* parameter index, for CNNRT_STORAGE_PARAM */
    int64_t offset;       /* floats per sample, for CNNRT_STORAGE_ACTIVATION */
    int64_t dims[3];      /* per-sample W, H, C of activations (innermost first); an
                             INPUT/OUTPUT tensor may leave all three 0, meaning
                             input_dims reversed / (1, 1, output_size) */
    /* A channel slice of a larger tensor (in-place concat): the data starts
     * inner_offset floats into each sample, samples are sample_stride floats
     * apart (0: dense, W*H*C). */
    int64_t inner_offset;
    int64_t sample_stride;
} cnnrt_tensor_desc;

typedef struct {
    const char *name;       /* for error messages and profiling */
    cnnrt_kernel_fn fn;
    int num_args;
    const int *args;        /* tensor indices: inputs and params first, output last */
    /* The batches the kernel runs at: min_batch <= batch <= max_batch, a bound
     * of 0 being none. An inference kernel tuned per batch range (a schedule
     * for large batches, see codegen/TuningDb.h) is a run of consecutive
     * entries computing the same output whose ranges tile [1, unbounded)
     * in increasing order; every other kernel has 0, 0. Training kernels: 0, 0. */
    int min_batch;
    int max_batch;
    /* The same kernel compiled for the library's baseline ISA, run instead of
     * `fn` on CPUs below the model's isa_level; 0 where `fn` is that already. */
    cnnrt_kernel_fn portable_fn;
} cnnrt_kernel_desc;

/* One term of the training loss: `tensor` is a TRAIN tensor of dims {1, 1, 1}
 * (one float per sample) holding each sample's cross-entropy; the step's loss
 * is the sum over terms of weight * (mean over the batch). The main head has
 * weight 1, each aux head its `aux ... weight=`. */
typedef struct {
    int tensor;
    float weight;
} cnnrt_loss_term;

/* A value infer_layer returns: after the first `kernels` layer kernels ran,
 * `tensor` (an INPUT or dense LAYER tensor) holds it. */
typedef struct {
    const char *name;     /* as `cnnc --summary` lists it: "conv1", "conv1.relu" */
    int tensor;
    int kernels;
    /* Receptive field: row y of the value sees input rows field[4] + y * field[2]
     * .. + field[0] - 1, columns x field[5] + x * field[3] .. + field[1] - 1
     * (size h, w; jump h, w; start h, w; rows outside the input are padding).
     * A value that mixes all positions sees the whole input: jumps 0. */
    int field[6];
} cnnrt_layer_desc;

typedef struct {
    const char *network;             /* "lenet5" */
    int input_dims[3];               /* C, H, W */
    int64_t output_size;             /* elements per sample */
    int num_params;
    const cnnrt_param_desc *params;
    int num_tensors;
    const cnnrt_tensor_desc *tensors;
    int num_kernels;
    const cnnrt_kernel_desc *kernels;
    int result_tensor;               /* copied to the output if not already there */
    int64_t arena_floats_per_sample; /* planned activation memory */
    /* Tensors a weight file may hold that this build does not use (e.g. aux
     * heads, which only training needs): skipped when loading. */
    int num_ignored_params;
    const char *const *ignored_params;
    /* Training (absent, all zero, in a library compiled without --train).
     * train_step: validate labels in [0, num_classes); zero the GRAD buffers;
     * run train_kernels in order (forward in training mode, losses, backward);
     * sum the loss terms; if finite, apply the optimiser to every parameter
     * that is neither derived nor a buffer, copy NEW_PARAM values into the
     * buffers, and publish the new weights (else leave them untouched). */
    int num_train_kernels;
    const cnnrt_kernel_desc *train_kernels;
    int64_t train_arena_floats_per_sample;
    int num_loss_terms;
    const cnnrt_loss_term *loss_terms;
    int num_classes;
    /* The x86-64 micro-architecture level (1-4, as in x86-64-v3) each kernel's
     * `fn` needs, and the level its portable form (portable_fn, else fn) needs;
     * 0 for both where nothing is checked (another architecture). The runtime
     * runs the `fn`s where CPUID reaches isa_level, the portable forms where it
     * reaches portable_isa_level, and fails create otherwise. */
    int isa_level;
    int portable_isa_level;
    /* A safetensors file compiled into the library (cnnc --weights, an ONNX
     * model's initializers): create loads it; NULL and 0 where there is none. */
    const unsigned char *embedded_weights;
    uint64_t embedded_weights_size;
    /* Layers: one inference-mode kernel per op (batchnorm with its running
     * statistics, dropout the identity), none fused, every value kept in the
     * layer arena, so that any value the network computes can be read back.
     * Layer and gradient kernels may use INPUT, PARAM (not derived) and LAYER
     * tensors, gradient kernels also LABELS (the classes); each writes a LAYER
     * tensor last. infer_layer runs the first layers[i].kernels of them. */
    int num_layer_kernels;
    const cnnrt_kernel_desc *layer_kernels;
    int64_t layer_arena_floats_per_sample;
    int num_layers;
    const cnnrt_layer_desc *layers;
    /* input_gradient (libraries compiled with --train; else 0 and NULL): after
     * every layer kernel, the gradient kernels seed the logits' gradient with
     * one-hot of each sample's class (in [0, num_classes)) and propagate it back
     * in inference mode; input_gradient_tensor, a LAYER tensor of the input's
     * dims, then holds d logit[class] / d input. */
    int num_gradient_kernels;
    const cnnrt_kernel_desc *gradient_kernels;
    int input_gradient_tensor;
    /* The only batch size the model accepts (an ONNX model exported with a
     * fixed batch above 1), or 0: any batch >= 1. infer, train_step,
     * infer_layer and input_gradient refuse other sizes with an error. */
    int fixed_batch;
    /* The kernels that compute derived parameters, one each: its arguments are
     * PARAM tensors, the sources (parameters listed before the one it
     * computes), then that parameter's. The runtime runs those an infer call's
     * kernels need when the call first uses a set of weights (create, load and
     * train_step leave them to it). No batch range. */
    int num_prepare_kernels;
    const cnnrt_kernel_desc *prepare_kernels;
} cnnrt_model_desc;

#ifdef __cplusplus
}
#endif

#endif
