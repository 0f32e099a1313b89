// The runtime's layer tables (infer_layer, layer_dims, layer_field) on the
// hand-made test model: the layer kernels are its kernels again, writing a
// layer arena, and the desc checks keep them apart from the inference tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/Runtime.h"
#include "tests/runtime/TestModel.h"

using namespace testmodel;

namespace {

std::string err() { return cnnrt_last_error(); }

// kTensors, then 8: the layer arena's act0, 9: its act1.
struct LayeredDesc {
    cnnrt_tensor_desc tensors[10];
    int scaleArgs[4] = {0, 1, 2, 8}, fcArgs[4] = {8, 3, 4, 9};
    cnnrt_kernel_desc kernels[2];
    cnnrt_layer_desc layers[3] = {{"image", 0, 0, {1, 1, 1, 1, 0, 0}},
                                  {"scale", 8, 1, {1, 1, 1, 1, 0, 0}},
                                  {"fc", 9, 2, {H, W, 0, 0, 0, 0}}};
    cnnrt_model_desc desc = kDesc;

    LayeredDesc() {
        std::copy(std::begin(kTensors), std::end(kTensors), tensors);
        tensors[8] = {CNNRT_STORAGE_LAYER, 0, 0, {W, H, C}, 0, 0};
        tensors[9] = {CNNRT_STORAGE_LAYER, 0, IN, {1, 1, OUT}, 0, 0};
        kernels[0] = {"scale (layer)", k_scale, 4, scaleArgs};
        kernels[1] = {"fc (layer)", k_fc, 4, fcArgs};
        desc.num_tensors = 10;
        desc.tensors = tensors;
        desc.num_layer_kernels = 2;
        desc.layer_kernels = kernels;
        desc.layer_arena_floats_per_sample = IN + OUT;
        desc.num_layers = 3;
        desc.layers = layers;
    }
};

std::vector<float> inputs(int batch) {
    std::vector<float> x(size_t(batch) * IN);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) - 3.0f;
    return x;
}

TEST(RuntimeLayers, ValuesAreTheKernelsOutputs) {
    LayeredDesc l;
    cnnrt_model *m = cnnrt_create(&l.desc);
    ASSERT_NE(m, nullptr) << err();
    const std::vector<float> x = inputs(3);
    std::vector<float> out(3 * OUT), fc(3 * OUT), scale(x.size()), image(x.size());
    ASSERT_EQ(cnnrt_infer(m, x.data(), 3, out.data()), 0) << err();
    ASSERT_EQ(cnnrt_infer_layer(m, x.data(), 3, "fc", fc.data()), 0) << err();
    EXPECT_EQ(fc, out);
    ASSERT_EQ(cnnrt_infer_layer(m, x.data(), 3, "scale", scale.data()), 0) << err();
    EXPECT_EQ(scale, x);  // initial weights: scale 1, bias 0
    ASSERT_EQ(cnnrt_infer_layer(m, x.data(), 3, "image", image.data()), 0) << err();
    EXPECT_EQ(image, x);
    EXPECT_NE(cnnrt_infer_layer(m, x.data(), 3, "act9", fc.data()), 0);
    EXPECT_NE(err().find("no layer named 'act9' in testnet (layers: image, scale, fc"), std::string::npos) << err();
    int32_t cls = 0;
    EXPECT_NE(cnnrt_input_gradient(m, x.data(), 1, &cls, image.data()), 0);
    EXPECT_NE(err().find("compiled without --train"), std::string::npos) << err();
    cnnrt_destroy(m);
}

TEST(RuntimeLayers, TableQueries) {
    LayeredDesc l;
    EXPECT_EQ(cnnrt_layer_count(&l.desc), 3);
    EXPECT_STREQ(cnnrt_layer_name(&l.desc, 2), "fc");
    EXPECT_EQ(cnnrt_layer_name(&l.desc, 3), nullptr);
    EXPECT_EQ(cnnrt_layer_name(nullptr, 0), nullptr);
    int dims[3], field[6];
    ASSERT_EQ(cnnrt_layer_dims(&l.desc, 2, dims), 0);
    EXPECT_EQ(std::vector<int>(dims, dims + 3), (std::vector<int>{OUT, 1, 1}));
    ASSERT_EQ(cnnrt_layer_dims(&l.desc, 1, dims), 0);
    EXPECT_EQ(std::vector<int>(dims, dims + 3), (std::vector<int>{C, H, W}));
    ASSERT_EQ(cnnrt_layer_field(&l.desc, 2, field), 0);
    EXPECT_EQ(std::vector<int>(field, field + 6), (std::vector<int>{H, W, 0, 0, 0, 0}));
    EXPECT_NE(cnnrt_layer_field(&l.desc, -1, field), 0);
    EXPECT_NE(cnnrt_layer_dims(&l.desc, 0, nullptr), 0);
    EXPECT_EQ(err(), "dims is NULL");
}

TEST(RuntimeLayers, CreateRejectsBadLayerTables) {
    auto rejected = [](const cnnrt_model_desc &d, const std::string &needle) {
        EXPECT_EQ(cnnrt_create(&d), nullptr);
        EXPECT_NE(err().find(needle), std::string::npos) << err();
    };
    {
        LayeredDesc l;
        l.fcArgs[3] = 6;  // an inference activation
        rejected(l.desc, "may not read or write");
    }
    {
        LayeredDesc l;
        l.desc.layer_arena_floats_per_sample = IN;
        rejected(l.desc, "outside the layer arena");
    }
    {
        LayeredDesc l;
        l.layers[2].name = "scale";
        rejected(l.desc, "duplicate layer 'scale'");
    }
    {
        LayeredDesc l;
        l.layers[1].kernels = 3;
        rejected(l.desc, "runs more kernels than the layer table has");
    }
    {
        LayeredDesc l;
        l.layers[1].tensor = 5;
        rejected(l.desc, "is not an input or layer tensor");
    }
    {
        LayeredDesc l;
        cnnrt_kernel_desc inference[2] = {kKernels[0], kKernels[1]};
        const int args[] = {0, 1, 2, 8};
        inference[0].args = args;  // the inference table writing the layer arena
        l.desc.kernels = inference;
        rejected(l.desc, "uses layer tensor #8");
    }
}

}  // namespace
