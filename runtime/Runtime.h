/* The runtime's internal API, called by the generated <name>_* wrappers. Every
 * function catches everything: no exception or abort crosses it. Hidden from the
 * final .so's exports by a version script. */
#ifndef CNNRT_RUNTIME_H
#define CNNRT_RUNTIME_H

#include "runtime/ModelDesc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cnnrt_model cnnrt_model;

/* Conventions (implemented in the runtime/ sources):
 * - int functions return 0 on success, nonzero on failure; cnnrt_create returns NULL
 *   and cnnrt_output_size -1 on failure. cnnrt_last_error() is the message of this
 *   thread's most recent failure ("" if none); success does not clear it.
 * - cnnrt_create validates the desc fully and keeps a pointer to it: the desc must
 *   outlive the model. Weights are initialised deterministically (fixed seed + index).
 * - cnnrt_infer may run concurrently on one model from several threads (each call
 *   mallocs its own arena); load/save may run alongside (load swaps in the new
 *   weights atomically, all-or-nothing, after validating the whole file). */

cnnrt_model *cnnrt_create(const cnnrt_model_desc *desc);
void cnnrt_destroy(cnnrt_model *model);
const char *cnnrt_last_error(void);
int cnnrt_input_dims(const cnnrt_model_desc *desc, int dims[3]);
int cnnrt_output_size(const cnnrt_model_desc *desc);
int cnnrt_load_weights(cnnrt_model *model, const char *path);
int cnnrt_save_weights(const cnnrt_model *model, const char *path);
int cnnrt_infer(cnnrt_model *model, const float *input, int batch, float *output);

/* Training (libraries compiled with --train; otherwise these fail with a clear
 * message). Optimisers follow torch.optim exactly: SGD (dampening 0, no
 * nesterov; weight decay added to the gradient; the first momentum step
 * copies the gradient) and Adam (bias-corrected, weight decay added to the
 * gradient). The default is SGD lr=0.01, momentum 0, weight decay 0. Changing
 * the optimiser resets its state. */
int cnnrt_set_sgd(cnnrt_model *model, float lr, float momentum, float weight_decay);
int cnnrt_set_adam(cnnrt_model *model, float lr, float beta1, float beta2, float eps, float weight_decay);
/* Changes the current optimiser's learning rate, keeping its state (a
 * learning-rate schedule, like torch's StepLR). */
int cnnrt_set_lr(cnnrt_model *model, float lr);
/* One step: forward in training mode, mean cross-entropy (+ weighted aux
 * losses), backward, optimiser update. Writes the loss. Labels out of range,
 * batch < 1, a NaN or infinite loss, a failing kernel: an error, and the
 * weights, the optimiser state and the step counter stay as they were.
 * Hyper-parameters are float32; the update is torch's for those float32
 * values. A parameter no GRAD tensor refers to is not updated (like torch's
 * grad None). The dropout seed of a step is a hash of a fixed constant and the
 * model's count of successful steps (restored by load_checkpoint).
 * Concurrency: train_step, set_sgd/set_adam, the checkpoint functions and
 * load_weights take a per-model lock, so they serialise (running train_step
 * from two threads is safe but pointless); infer never waits and keeps the
 * weights it started with. */
int cnnrt_train_step(cnnrt_model *model, const float *input, const int32_t *labels, int batch, float *loss);
/* Weights plus optimiser state (kind, hyper-parameters, step count, moment
 * buffers) in one safetensors file, written atomically, so training resumes
 * bit-identically. Loading is all or nothing. The state is stored in tensors
 * named "__optim__.*" (layout in Weights.cpp); load_weights skips those, so a
 * checkpoint also loads as plain weights (leaving the optimiser as it was). */
int cnnrt_save_checkpoint(const cnnrt_model *model, const char *path);
int cnnrt_load_checkpoint(cnnrt_model *model, const char *path);

/* Layers (Layers.cpp): every value the network computes, by the names
 * `cnnc --summary` lists, in inference mode. layer_dims writes C, H, W per
 * sample (a flat [N, K] value is K, 1, 1); infer_layer writes
 * [batch, C * H * W] floats. input_gradient (--train libraries) writes
 * d logit[classes[i]] / d input for each sample i, [batch, C, H, W], in
 * inference mode (running statistics, no dropout). */
int cnnrt_layer_count(const cnnrt_model_desc *desc);
const char *cnnrt_layer_name(const cnnrt_model_desc *desc, int i);
int cnnrt_layer_dims(const cnnrt_model_desc *desc, int i, int dims[3]);
/* The layer's receptive field (cnnrt_layer_desc.field). */
int cnnrt_layer_field(const cnnrt_model_desc *desc, int i, int field[6]);
int cnnrt_infer_layer(cnnrt_model *model, const float *input, int batch, const char *layer, float *output);
int cnnrt_input_gradient(cnnrt_model *model, const float *input, int batch, const int32_t *classes, float *grad);

/* The most bytes of activations (the arena of intermediate values, which
 * grows with the batch) an infer or train_step call may use; a call that would
 * need more fails with a message instead of allocating. 0 (the default): no
 * limit. */
int cnnrt_set_memory_limit(cnnrt_model *model, int64_t bytes);

/* Extension: sets the size of Halide's thread pool (0 = default, one per core).
 * Returns the previous value, or -1 with cnnrt_last_error() set on failure. */
int cnnrt_set_num_threads(int n);

#ifdef __cplusplus
}
#endif

#endif
