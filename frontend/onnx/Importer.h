// The ONNX importer's state, shared by the graph walk (OnnxImport.cpp), the
// tensor decoding (OnnxTensors.cpp) and the op translations (OnnxOps.cpp).
#pragma once
#include <climits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "frontend/onnx/OnnxImport.h"

namespace cnnc::onnximport {

// In integer constants computed from shapes (Shape -> Gather -> Concat ->
// Reshape): the batch size, which the library leaves open.
constexpr int64_t kBatchDim = INT64_MIN;

// A value of the ONNX graph: a tensor the network computes (an IR node),
// possibly with a zero Pad not yet folded into its consumer, or a constant.
struct Value {
    enum Kind { Tensor, Constant } kind = Tensor;
    int node = -1;                       // Tensor: IR node id
    std::vector<int64_t> pad;            // Tensor: pending zero pad [top, left, bottom, right] on `node`, or empty
    std::vector<int64_t> dims;           // Constant: ONNX dims
    bool isInt = false;                  // Constant: integer data in `ints`, else floats in `floats`
    std::vector<float> floats;
    std::vector<int64_t> ints;           // may hold kBatchDim
    bool hasData = true;                 // false: a graph input the weights file supplies at run time
    std::string onnxName;                // where a constant came from (param metadata)

    int64_t elements() const;
};

// Decodes a TensorProto (raw or typed fields, external data relative to
// `modelDir`) into a Constant. Throws OnnxImportError naming the tensor.
Value decodeTensor(const onnx::TensorProto &t, const std::string &modelDir);

// "[1, 2, 3]"
std::string dimsStr(const std::vector<int64_t> &dims);

class Importer {
public:
    Importer(const onnx::ModelProto &model, std::string modelDir);
    OnnxImport run();

    // --- what op translations use (the node being translated) ---
    const onnx::NodeProto &node() const { return *node_; }
    int opset() const { return opset_; }
    int64_t declaredBatch() const { return declaredBatch_; } // the input's fixed batch, 0 if symbolic
    [[noreturn]] void fail(const std::string &message) const;
    size_t inputCount() const;               // trailing empty names excluded
    bool hasInput(size_t i) const;           // present and not the empty name
    const Value &input(size_t i) const;
    // A computed tensor's IR node. A pending zero Pad on it becomes a pad op
    // here, which the Pad's other users then share.
    int tensorInput(size_t i);
    const Value &constantInput(size_t i, bool needData = true) const;
    const TensorType &type(int irNode) const { return graph_.node(irNode).type; }
    // The ONNX shape of a computed tensor: [batch, per-sample dims...].
    std::vector<int64_t> onnxDims(int irNode) const;
    void setOutput(size_t i, Value v);
    bool outputUsed(size_t i) const;          // by another node or as the graph output
    int usesOf(const std::string &name) const;

    // `axis` (negative: from the end) as an index below `rank`.
    int64_t axis(int64_t axis, int64_t rank) const;
    const onnx::AttributeProto *attr(const std::string &name) const;
    int64_t attrInt(const std::string &name, int64_t dflt) const;
    float attrFloat(const std::string &name, float dflt) const;
    std::vector<int64_t> attrInts(const std::string &name, std::vector<int64_t> dflt = {}) const;
    std::string attrString(const std::string &name, const std::string &dflt) const;
    Value attrTensor(const std::string &name) const; // a present TENSOR attribute, decoded
    // The IR node of a computed tensor: a pending zero pad becomes a pad op.
    int materialize(const Value &v);
    // Appends a pad op of `pads` ([top, left, bottom, right]) filled with `value` on irNode.
    int addPad(int irNode, const std::vector<int64_t> &pads, double value);

    // Appends an IR op. `params` gives each parameter's value by suffix
    // ("weight", "bias", "running_mean", ...); the node's name (its params'
    // prefix) is the ONNX tensors' common prefix where they are all named
    // "<prefix>.<suffix>", else `op` plus a counter.
    int addOp(const std::string &op, const std::vector<int> &inputs,
              const std::vector<std::pair<std::string, AttrValue>> &attrs,
              const std::vector<std::pair<std::string, Value>> &params = {});
    // Marks an IR node so that a later Add can fold a bias into it (MatMul).
    void allowBiasFold(int irNode) { biasFoldable_.insert(irNode); }
    bool biasFoldable(int irNode) const { return biasFoldable_.count(irNode) > 0; }
    // Gives a bias-less dense node the bias `bias` ([units]).
    void addBias(int irNode, const Value &bias);

private:
    void readInputs();
    std::vector<const onnx::NodeProto *> orderNodes();
    std::string paramPrefix(const std::string &op, const std::vector<std::pair<std::string, Value>> &params);
    void recordParams(const Node &n, const std::vector<std::pair<std::string, Value>> &params);
    std::string weightsBlob() const;

    const onnx::ModelProto &model_;
    std::string modelDir_;
    int opset_ = 0;
    int64_t declaredBatch_ = 0;
    Graph graph_;
    std::map<std::string, Value> values_;
    std::map<std::string, int> uses_;
    std::string output_;
    const onnx::NodeProto *node_ = nullptr;
    std::set<std::string> prefixes_;
    std::map<std::string, int> counters_;
    std::set<int> biasFoldable_;
    struct Weight {
        std::vector<int64_t> shape;
        std::vector<float> data;
        std::string onnxName;
        bool hasData = true;
    };
    std::map<std::string, Weight> weights_;   // by param name
    std::vector<std::string> notes_;
};

// Translates importer.node() (OnnxOps.cpp). Throws OnnxImportError.
void translateNode(Importer &importer);
using Translate = void (*)(Importer &);
// The ops evaluated at import on constants: shape arithmetic (OnnxConstants.cpp).
const std::map<std::string, Translate> &constantOps();
// Whether translateNode knows the op type (domain "" / "ai.onnx").
bool isSupportedOp(const std::string &opType);

} // namespace cnnc::onnximport
