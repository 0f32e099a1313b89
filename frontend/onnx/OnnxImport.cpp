// The ONNX graph walk: inputs, initializers, nodes in dependency order, the
// output; and the parameters' values as safetensors.
#include "frontend/onnx/OnnxImport.h"

#include <cctype>
#include <cstdio>
#include <functional>
#include <limits>
#include <queue>

#include "frontend/Diagnostics.h"
#include "frontend/LowerToIR.h"
#include "frontend/onnx/Importer.h"

namespace cnnc {
namespace onnximport {

namespace {

// A name the .cnn language and C accept: letters, digits and '_', not
// starting with a digit.
std::string identifier(const std::string &s, const std::string &fallback) {
    std::string out;
    for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
    if (out.empty()) return fallback;
    if (std::isdigit(static_cast<unsigned char>(out[0]))) out = "_" + out;
    return out;
}

std::string jsonString(const std::string &s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') out += char('\\'), out += char(c);
        else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else out += char(c);
    }
    return out + "\"";
}

std::string nodeLabel(const onnx::NodeProto &n) {
    if (!n.name().empty()) return n.name();
    return n.output_size() ? n.output(0) : std::string("?");
}

} // namespace

Importer::Importer(const onnx::ModelProto &model, std::string modelDir)
    : model_(model), modelDir_(std::move(modelDir)) {}

void Importer::fail(const std::string &message) const {
    if (!node_) throw OnnxImportError(message);
    throw OnnxImportError("node '" + nodeLabel(*node_) + "' (" + node_->op_type() + ", opset " +
                          std::to_string(opset_) + "): " + message);
}

size_t Importer::inputCount() const {
    size_t n = size_t(node_->input_size());
    while (n > 0 && node_->input(int(n - 1)).empty()) --n;
    return n;
}

bool Importer::hasInput(size_t i) const { return i < size_t(node_->input_size()) && !node_->input(int(i)).empty(); }

const Value &Importer::input(size_t i) const {
    if (!hasInput(i)) fail("input " + std::to_string(i + 1) + " is missing");
    return values_.at(node_->input(int(i))); // orderNodes() checked every name is defined
}

int Importer::tensorInput(size_t i) {
    const Value &v = input(i);
    if (v.kind != Value::Tensor)
        fail("input '" + node_->input(int(i)) + "' is a constant; cnnc supports this op on computed tensors only");
    if (v.pad.empty()) return v.node;
    Value padded;
    padded.node = materialize(v);
    values_[node_->input(int(i))] = padded;
    return padded.node;
}

int Importer::materialize(const Value &v) { return v.pad.empty() ? v.node : addPad(v.node, v.pad, 0.0); }

int Importer::addPad(int irNode, const std::vector<int64_t> &p, double value) {
    return addOp("pad", {irNode}, {{"left", p[1]}, {"right", p[3]}, {"top", p[0]}, {"bottom", p[2]}, {"value", value}});
}

const Value &Importer::constantInput(size_t i, bool needData) const {
    const Value &v = input(i);
    if (v.kind != Value::Constant)
        fail("input '" + node_->input(int(i)) + "' must be a constant (an initializer or Constant), not computed");
    if (needData && !v.hasData)
        fail("input '" + node_->input(int(i)) + "' must be an initializer, not a graph input");
    return v;
}

std::vector<int64_t> Importer::onnxDims(int irNode) const {
    std::vector<int64_t> d{kBatchDim};
    for (int64_t x : type(irNode).dims) d.push_back(x);
    return d;
}

void Importer::setOutput(size_t i, Value v) {
    if (i >= size_t(node_->output_size()) || node_->output(int(i)).empty()) return;
    values_[node_->output(int(i))] = std::move(v);
}

int Importer::usesOf(const std::string &name) const {
    auto it = uses_.find(name);
    return it == uses_.end() ? 0 : it->second;
}

bool Importer::outputUsed(size_t i) const {
    return i < size_t(node_->output_size()) && !node_->output(int(i)).empty() && usesOf(node_->output(int(i))) > 0;
}

Value Importer::attrTensor(const std::string &name) const {
    const onnx::AttributeProto *a = attr(name);
    if (!a || a->type() != onnx::AttributeProto::TENSOR) fail("attribute '" + name + "' must be a tensor");
    try {
        return decodeTensor(a->t(), modelDir_);
    } catch (const OnnxImportError &e) {
        fail("attribute '" + name + "': tensor " + e.what());
    }
}

int64_t Importer::axis(int64_t axis, int64_t rank) const {
    if (axis < -rank || axis >= rank)
        fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    return axis < 0 ? axis + rank : axis;
}

const onnx::AttributeProto *Importer::attr(const std::string &name) const {
    for (auto &a : node_->attribute())
        if (a.name() == name) return &a;
    return nullptr;
}

int64_t Importer::attrInt(const std::string &name, int64_t dflt) const {
    const onnx::AttributeProto *a = attr(name);
    if (!a) return dflt;
    if (a->type() != onnx::AttributeProto::INT) fail("attribute '" + name + "' must be an integer");
    return a->i();
}

float Importer::attrFloat(const std::string &name, float dflt) const {
    const onnx::AttributeProto *a = attr(name);
    if (!a) return dflt;
    if (a->type() != onnx::AttributeProto::FLOAT) fail("attribute '" + name + "' must be a float");
    return a->f();
}

std::vector<int64_t> Importer::attrInts(const std::string &name, std::vector<int64_t> dflt) const {
    const onnx::AttributeProto *a = attr(name);
    if (!a) return dflt;
    if (a->type() != onnx::AttributeProto::INTS) fail("attribute '" + name + "' must be a list of integers");
    return {a->ints().begin(), a->ints().end()};
}

std::string Importer::attrString(const std::string &name, const std::string &dflt) const {
    const onnx::AttributeProto *a = attr(name);
    if (!a) return dflt;
    if (a->type() != onnx::AttributeProto::STRING) fail("attribute '" + name + "' must be a string");
    return a->s();
}

std::string Importer::paramPrefix(const std::string &op, const std::vector<std::pair<std::string, Value>> &params) {
    std::string common;
    for (auto &[suffix, v] : params) {
        const std::string &n = v.onnxName;
        std::string tail = "." + suffix;
        if (n.size() <= tail.size() || n.compare(n.size() - tail.size(), tail.size(), tail) != 0) {
            common.clear();
            break;
        }
        std::string p = n.substr(0, n.size() - tail.size());
        if (!common.empty() && p != common) {
            common.clear();
            break;
        }
        common = p;
    }
    // Names go into IR text and C strings: plain ones only.
    for (char c : common)
        if (!std::isalnum(static_cast<unsigned char>(c)) && std::string("._-/:").find(c) == std::string::npos) {
            common.clear();
            break;
        }
    if (!common.empty() && prefixes_.insert(common).second) return common;
    for (;;) {
        std::string cand = op + std::to_string(++counters_[op]);
        if (prefixes_.insert(cand).second) return cand;
    }
}

int Importer::addOp(const std::string &op, const std::vector<int> &inputs,
                    const std::vector<std::pair<std::string, AttrValue>> &attrs,
                    const std::vector<std::pair<std::string, Value>> &params) {
    const OpDef *def = OpRegistry::get().find(op);
    if (!def) throw std::logic_error("op '" + op + "' is not registered");
    if (graph_.nodes.size() >= kMaxGraphNodes)
        fail("network is too large (more than " + std::to_string(kMaxGraphNodes) + " ops)");
    Node n;
    try {
        n = graph_.create(*def, inputs, bindArguments(*def, {}, attrs), def->hasParams() ? paramPrefix(op, params) : "");
    } catch (const OpError &e) {
        fail(e.what());
    }
    recordParams(n, params);
    return graph_.add(std::move(n));
}

void Importer::recordParams(const Node &n, const std::vector<std::pair<std::string, Value>> &params) {
    for (const Param &p : n.params) {
        if (p.decl.derived()) continue;
        const Value *v = nullptr;
        for (auto &[suffix, value] : params)
            if (suffix == p.decl.suffix) v = &value;
        if (!v) throw std::logic_error("no value for parameter '" + p.decl.suffix + "'");
        if (v->dims != p.decl.shape)
            fail("'" + v->onnxName + "' has shape " + dimsStr(v->dims) + ", expected " + dimsStr(p.decl.shape));
        weights_[p.name] = Weight{p.decl.shape, v->floats, v->onnxName, v->hasData};
    }
}

void Importer::addBias(int irNode, const Value &bias) {
    Node &n = graph_.node(irNode);
    n.attrs.set("bias", true);
    std::vector<TensorType> types = graph_.operandTypes(n);
    try {
        attachParams(n, types);
    } catch (const OpError &e) {
        fail(e.what());
    }
    Value b = bias;
    for (const Param &p : n.params)
        if (p.decl.suffix == "bias") {
            if (b.dims != p.decl.shape)
                fail("bias '" + b.onnxName + "' has shape " + dimsStr(b.dims) + ", expected " + dimsStr(p.decl.shape));
            weights_[p.name] = Weight{p.decl.shape, b.floats, b.onnxName, b.hasData};
        }
    biasFoldable_.erase(irNode);
}

void Importer::readInputs() {
    const onnx::GraphProto &g = model_.graph();
    for (auto &t : g.initializer()) {
        if (values_.count(t.name())) throw OnnxImportError("initializer '" + t.name() + "' is defined twice");
        try {
            values_[t.name()] = decodeTensor(t, modelDir_);
        } catch (const OnnxImportError &e) {
            throw OnnxImportError(std::string("initializer ") + e.what());
        }
    }
    if (g.sparse_initializer_size()) throw OnnxImportError("sparse initializers are not supported");
    for (auto &in : g.input()) {
        if (values_.count(in.name())) continue; // an initializer's default (IR version < 4)
        const auto &tt = in.type().tensor_type();
        if (!in.type().has_tensor_type() || tt.elem_type() != onnx::TensorProto::FLOAT)
            throw OnnxImportError("graph input '" + in.name() + "' is not a float tensor");
        std::vector<int64_t> dims;
        std::vector<bool> symbolic;
        for (auto &d : tt.shape().dim()) {
            dims.push_back(d.has_dim_value() ? d.dim_value() : 0);
            symbolic.push_back(!d.has_dim_value());
        }
        if (graph_.nodes.empty()) { // the network's input
            if (dims.size() != 2 && dims.size() != 4)
                throw OnnxImportError("graph input '" + in.name() + "' has " + std::to_string(dims.size()) +
                                      " dimensions; cnnc networks take [N, K] or [N, C, H, W]");
            for (size_t i = 1; i < dims.size(); ++i)
                if (symbolic[i] || dims[i] < 1)
                    throw OnnxImportError("graph input '" + in.name() + "' needs a fixed size in dimension " +
                                          std::to_string(i) + " (only the batch may be symbolic)");
            declaredBatch_ = symbolic[0] ? 0 : dims[0];
            // A symbolic batch, or 1, becomes any batch; another is the only
            // batch the library accepts.
            if (declaredBatch_ > std::numeric_limits<int32_t>::max() || (!symbolic[0] && declaredBatch_ < 1))
                throw OnnxImportError("graph input '" + in.name() + "' has the batch size " +
                                      std::to_string(declaredBatch_) + " (1 to 2^31-1, or symbolic)");
            if (declaredBatch_ > 1) graph_.fixedBatch = declaredBatch_;
            Node n;
            n.name = identifier(in.name(), "input");
            n.type.dims.assign(dims.begin() + 1, dims.end());
            if (n.type.elementsPerSample() < 0) throw OnnxImportError("graph input '" + in.name() + "' is too large");
            graph_.add(std::move(n));
            values_[in.name()] = Value{Value::Tensor, 0};
            continue;
        }
        // Further inputs are parameters (ONNX's node tests feed weights so).
        Value v;
        v.kind = Value::Constant;
        v.hasData = false;
        v.onnxName = in.name();
        for (size_t i = 0; i < dims.size(); ++i)
            if (symbolic[i]) throw OnnxImportError("graph input '" + in.name() + "' is a second network input; cnnc networks take one");
        v.dims = dims;
        values_[in.name()] = v;
    }
    if (graph_.nodes.empty()) throw OnnxImportError("the graph has no input");
}

// The nodes the output depends on, each after the nodes computing its inputs.
std::vector<const onnx::NodeProto *> Importer::orderNodes() {
    const onnx::GraphProto &g = model_.graph();
    std::map<std::string, int> producer;
    for (int i = 0; i < g.node_size(); ++i)
        for (auto &o : g.node(i).output()) {
            if (o.empty()) continue;
            if (values_.count(o) || !producer.emplace(o, i).second) {
                node_ = &g.node(i);
                fail("output '" + o + "' is already defined");
            }
        }
    if (!producer.count(output_) && !values_.count(output_))
        throw OnnxImportError("graph output '" + output_ + "' is not computed by any node");
    std::vector<bool> needed(size_t(g.node_size()), false);
    std::vector<int> work;
    if (producer.count(output_)) work.push_back(producer[output_]);
    while (!work.empty()) {
        int i = work.back();
        work.pop_back();
        if (needed[size_t(i)]) continue;
        needed[size_t(i)] = true;
        for (auto &in : g.node(i).input()) {
            if (in.empty()) continue;
            auto it = producer.find(in);
            if (it != producer.end()) work.push_back(it->second);
            else if (!values_.count(in)) {
                node_ = &g.node(i);
                fail("input '" + in + "' is not defined (no node, initializer or graph input has that name)");
            }
        }
    }
    // Kahn's algorithm over the needed nodes.
    std::vector<int> pending(size_t(g.node_size()), 0);
    std::map<int, std::vector<int>> users;
    for (int i = 0; i < g.node_size(); ++i) {
        if (!needed[size_t(i)]) continue;
        for (auto &in : g.node(i).input()) {
            auto it = in.empty() ? producer.end() : producer.find(in);
            if (it == producer.end()) continue;
            ++pending[size_t(i)];
            users[it->second].push_back(i);
        }
        for (auto &in : g.node(i).input())
            if (!in.empty()) ++uses_[in];
    }
    ++uses_[output_];
    // The earliest ready node first: a file already in order keeps its order.
    std::vector<const onnx::NodeProto *> order;
    std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
    for (int i = 0; i < g.node_size(); ++i)
        if (needed[size_t(i)] && pending[size_t(i)] == 0) ready.push(i);
    while (!ready.empty()) {
        int i = ready.top();
        ready.pop();
        order.push_back(&g.node(i));
        for (int u : users[i])
            if (--pending[size_t(u)] == 0) ready.push(u);
    }
    for (int i = 0; i < g.node_size(); ++i)
        if (needed[size_t(i)] && pending[size_t(i)] > 0) {
            node_ = &g.node(i);
            fail("is part of a cycle");
        }
    return order;
}

std::string Importer::weightsBlob() const {
    std::string header = "{\"__metadata__\":{";
    bool first = true;
    for (const Param *p : graph_.parameters()) {
        auto it = weights_.find(p->name);
        if (it == weights_.end()) continue;
        header += (first ? "" : ",") + jsonString(p->name) + ":" + jsonString(it->second.onnxName);
        first = false;
    }
    header += "}";
    std::string data;
    for (const Param *p : graph_.parameters()) {
        auto it = weights_.find(p->name);
        if (it == weights_.end() || !it->second.hasData) continue;
        const Weight &w = it->second;
        header += "," + jsonString(p->name) + ":{\"dtype\":\"F32\",\"shape\":" + dimsStr(w.shape) +
                  ",\"data_offsets\":[" + std::to_string(data.size()) + "," +
                  std::to_string(data.size() + w.data.size() * 4) + "]}";
        data.append(reinterpret_cast<const char *>(w.data.data()), w.data.size() * 4);
    }
    header += "}";
    while (header.size() % 8) header += ' ';
    std::string out(8, '\0');
    uint64_t len = header.size();
    for (int i = 0; i < 8; ++i) out[size_t(i)] = char((len >> (8 * i)) & 0xff);
    return out + header + data;
}

OnnxImport Importer::run() {
    for (auto &o : model_.opset_import())
        if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = int(o.version());
    if (model_.opset_import_size() == 0 && model_.ir_version() < 3) opset_ = 1;
    if (opset_ < 6 || opset_ > 17)
        throw OnnxImportError("opset " + std::to_string(opset_) + " of the default domain is not supported (6 to 17)");
    const onnx::GraphProto &g = model_.graph();
    if (g.output_size() != 1)
        throw OnnxImportError("the graph has " + std::to_string(g.output_size()) +
                              " outputs; cnnc networks return one tensor");
    output_ = g.output(0).name();
    readInputs();
    std::vector<const onnx::NodeProto *> order = orderNodes();
    for (const onnx::NodeProto *n : order) {
        node_ = n;
        if (!n->domain().empty() && n->domain() != "ai.onnx") fail("operators of domain '" + n->domain() + "' are not supported");
        if (!isSupportedOp(n->op_type())) fail("operator not supported");
        translateNode(*this);
        for (int i = 0; i < n->output_size(); ++i)
            if (!n->output(i).empty() && usesOf(n->output(i)) && !values_.count(n->output(i)))
                fail("output " + std::to_string(i + 1) + " ('" + n->output(i) + "') is not supported");
    }
    // A zero Pad as the graph's output: its pad op.
    if (values_.at(output_).kind == Value::Tensor) values_.at(output_).node = materialize(values_.at(output_));
    values_.at(output_).pad.clear();
    node_ = nullptr;
    const Value &out = values_.at(output_);
    if (out.kind != Value::Tensor || out.node == 0)
        throw OnnxImportError("graph output '" + output_ + "' is not computed from the input by any supported op");
    graph_.result = out.node;
    graph_.name = identifier(g.name(), "model");
    // Nodes no longer used (a MatMul's Add folded, shape arithmetic) are dropped.
    std::vector<bool> keep(graph_.nodes.size(), false);
    keep[0] = true;
    keep[size_t(graph_.result)] = true;
    for (size_t i = graph_.nodes.size(); i-- > 0;)
        if (keep[i])
            for (int op : graph_.nodes[i].operands) keep[size_t(op)] = true;
    graph_.retain(keep);

    OnnxImport result;
    for (const Param *p : graph_.parameters()) {
        auto it = weights_.find(p->name);
        if (it != weights_.end() && !it->second.hasData) result.unsetParams.push_back(p->name);
    }
    result.weights = weightsBlob();
    result.graph = std::move(graph_);
    result.notes = notes_;
    return result;
}

} // namespace onnximport

void checkOnnxFileSize(uint64_t bytes) {
    if (bytes > kMaxOnnxBytes)
        throw OnnxImportError("the file is larger than 2 GiB, protobuf's limit (store the weights as external data)");
}

OnnxImport importOnnx(const std::string &path, const std::string &bytes) {
    checkOnnxFileSize(bytes.size());
    onnx::ModelProto model;
    if (!model.ParseFromString(bytes)) throw OnnxImportError("not an ONNX model (the file is not a valid ModelProto)");
    if (!model.has_graph() || model.graph().node_size() == 0)
        throw OnnxImportError("not an ONNX model (no graph with nodes)");
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash);
    try {
        return onnximport::Importer(model, dir).run();
    } catch (const OnnxImportError &e) {
        // Names from the file are echoed: control bytes and invalid UTF-8 become '?'.
        std::string message = e.what(), shown;
        for (size_t i = 0; i < message.size();) {
            size_t n = utf8SequenceLength(message, i);
            bool control = n == 1 && (static_cast<unsigned char>(message[i]) < 0x20 || message[i] == 0x7f);
            shown += n == 0 || control ? std::string("?") : message.substr(i, n);
            i += n ? n : 1;
        }
        throw OnnxImportError(shown);
    }
}

} // namespace cnnc
