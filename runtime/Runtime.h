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

cnnrt_model *cnnrt_create(const cnnrt_model_desc *desc);
void cnnrt_destroy(cnnrt_model *model);
const char *cnnrt_last_error(void);
int cnnrt_input_dims(const cnnrt_model_desc *desc, int dims[3]);
int cnnrt_output_size(const cnnrt_model_desc *desc);
int cnnrt_load_weights(cnnrt_model *model, const char *path);
int cnnrt_save_weights(const cnnrt_model *model, const char *path);
int cnnrt_infer(cnnrt_model *model, const float *input, int batch, float *output);

#ifdef __cplusplus
}
#endif

#endif
