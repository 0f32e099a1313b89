#include "codegen/TrainingPlan.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "codegen/KernelBuilder.h"
#include "lowering/LowerCtx.h"
#include "codegen/OpKernels.h"
#include "lowering/TrainingMode.h"
#include "ir/Kernels.h"
#include "runtime/ModelDesc.h"

using namespace Halide;

namespace cnnc {

namespace {

// Where each value and gradient lives during a step.
struct TrainStorage {
    std::vector<int64_t> forward;  // per node: TRAIN offset (-1: the input, or a view's root decides)
    std::vector<int64_t> gradient; // per node: TRAIN offset of d loss / d node (-1: none)
    int64_t floats = 0;

    int64_t take(int64_t size) {
        int64_t at = floats;
        floats += size;
        return at;
    }
};

TensorRef trainTensor(int64_t offset, const TensorType &t) {
    TensorRef r;
    r.storage = CNNRT_STORAGE_TRAIN;
    r.offset = offset;
    r.dims[0] = t.width(), r.dims[1] = t.height(), r.dims[2] = t.channels();
    return r;
}

TensorRef paramTensor(int storage, int index) {
    TensorRef r;
    r.storage = storage;
    r.index = index;
    return r;
}

TensorRef simple(int storage) {
    TensorRef r;
    r.storage = storage;
    return r;
}

// "relu{}", "conv{filters=8,...,}": an op and its attributes, for signatures.
std::string opWithAttrs(const Node &n) {
    std::string s = n.opName() + "{";
    for (auto &[k, v] : n.attrs.items()) s += k + "=" + formatAttr(v) + ",";
    return s + "}";
}

} // namespace

int logitsOf(const Graph &g, int node) {
    const Node &n = g.node(node);
    return !n.isInput() && n.def->traits.normalizesToProbabilities ? n.operands[0] : node;
}

std::string nodeSignature(const Graph &g, const Node &n, const std::string &role) {
    std::string s = "cnnc-train-1:" + role + ":" + opWithAttrs(n) + "(";
    for (int op : n.operands) s += g.node(op).type.str() + (g.node(op).isInput() ? "i" : "") + ",";
    s += "):" + n.type.str();
    for (const Param &p : n.params) s += p.decl.buffer ? "b" : "p";
    if (n.def->traits.stochastic) s += "#" + std::to_string(n.id); // each instance draws its own mask
    return s;
}

namespace {

// Inputs every training kernel of a node shares: seed, operands, parameters.
struct NodeInputs {
    Halide::Param<uint32_t> seed{"seed"};
    std::vector<ImageParam> operands, params;
    std::vector<Func> operandFuncs, paramFuncs;
    std::vector<Argument> arguments;
};

// Training kernels take the seed first; inference-mode ones draw nothing and take none.
void declareInputs(const Graph &g, const Node &n, NodeInputs &in, bool training) {
    if (training) in.arguments.push_back(in.seed);
    for (size_t i = 0; i < n.operands.size(); ++i) {
        ImageParam p(Float(32), 4, "in" + std::to_string(i));
        constrainActivation(p, g.node(n.operands[i]).type);
        Var x, y, c, b;
        Func f("in" + std::to_string(i) + "_f");
        f(x, y, c, b) = p(x, y, c, b);
        in.operands.push_back(p), in.operandFuncs.push_back(f), in.arguments.push_back(p);
    }
    for (size_t i = 0; i < n.params.size(); ++i) {
        const auto &shape = n.params[i].decl.shape;
        ImageParam p(Float(32), int(shape.size()), "p" + std::to_string(i));
        constrainParam(p, shape);
        std::vector<Var> vars(shape.size());
        std::vector<Expr> args(vars.begin(), vars.end());
        Func f("p" + std::to_string(i) + "_f");
        f(vars) = p(args);
        in.params.push_back(p), in.paramFuncs.push_back(f), in.arguments.push_back(p);
    }
}

// The activation fused into a node's training kernels (-1: none), see planTraining.
Func applyActivation(const Graph &g, int activation, Func value, TrainingMode &mode, const Target &target) {
    if (activation < 0) return value;
    const Node &a = g.node(activation);
    LowerCtx actx{a, g.operandTypes(a), {value}, {}};
    actx.forTarget(target);
    actx.training = &mode;
    return a.def->lower(actx);
}

} // namespace

BuiltKernel buildForward(const Graph &g, int id, int activation, const Target &target, bool training) {
    const Node &n = g.node(id);
    NodeInputs in;
    declareInputs(g, n, in, training);
    LowerCtx ctx{n, g.operandTypes(n), in.operandFuncs, in.paramFuncs};
    ctx.forTarget(target);
    TrainingMode mode{in.seed, n.operands.empty() ? Expr(1) : in.operands[0].dim(3).extent(), {}};
    if (training) ctx.training = &mode;
    // Training is not tuned: the op's untuned inference schedule, where the
    // training lowering takes it (a conv's filters in vectors, blocked in the
    // kernel from the step's weights).
    if (training && n.def->defaultSchedule)
        ctx.choice = n.def->defaultSchedule(OpCall{g.operandTypes(n), n.attrs}, n.type, ctx.vectorWidth);
    Func value = n.def->lower(ctx);
    Func result = applyActivation(g, activation, value, mode, target);
    Var x("x"), y("y"), c("c"), b("b");
    Func out("output");
    out(x, y, c, b) = result(x, y, c, b);
    constrainActivation(out.output_buffer(), n.type);
    // The op's inference schedule serves its training forward too.
    if (n.def->schedule) {
        ScheduleCtx sctx{ctx, value, out, n.type, target, ctx.vectorWidth, x, y, c, b, result};
        n.def->schedule(sctx);
    } else {
        out.parallel(b);
    }
    std::vector<Func> outputs{out};
    for (auto &[index, f] : mode.newParams) {
        Var i("i");
        Func p("new_param" + std::to_string(index));
        p(i) = f(i);
        constrainParam(p.output_buffer(), n.params[size_t(index)].decl.shape);
        outputs.push_back(p);
    }
    return BuiltKernel{Pipeline(outputs), in.arguments};
}

// d loss / d operands and parameters of one node, given d loss / d node:
// Halide differentiates the node's own lowering. Operand gradients accumulate
// into their buffers (a value used twice receives two contributions).
BuiltKernel buildBackward(const Graph &g, int id, const std::vector<GradientWrite> &operandGrads,
                          int activation, const Target &target, bool training) {
    const Node &n = g.node(id);
    NodeInputs in;
    declareInputs(g, n, in, training);
    ImageParam dy(Float(32), 4, "dy");
    constrainActivation(dy, n.type);
    in.arguments.push_back(dy);
    // A fused activation's output z, for its derivative (gradFromOutput).
    ImageParam z(Float(32), 4, "activation_out");
    if (activation >= 0) {
        constrainActivation(z, n.type);
        in.arguments.push_back(z);
    }
    std::vector<ImageParam> old(n.operands.size());
    for (size_t i = 0; i < n.operands.size(); ++i) {
        if (operandGrads[i] != GradientWrite::Accumulate) continue;
        ImageParam p(Float(32), 4, "grad_in" + std::to_string(i));
        constrainActivation(p, g.node(n.operands[i]).type);
        old[i] = p;
        in.arguments.push_back(p);
    }
    LowerCtx ctx{n, g.operandTypes(n), in.operandFuncs, in.paramFuncs};
    ctx.forTarget(target);
    TrainingMode mode{in.seed, dy.dim(3).extent(), {}};
    // An op with buffers (batchnorm's running statistics) or random draws
    // (dropout) computes another function in training mode, and its written
    // adjoint is that function's: in inference mode Halide differentiates its
    // inference lowering instead. Every other op computes the same function
    // in both modes, and its written adjoint serves both.
    const bool modeDependent = n.def->traits.stochastic ||
                               std::any_of(n.params.begin(), n.params.end(), [](const Param &p) { return p.decl.buffer; });
    const bool writtenAdjoint = n.def->backward && (training || !modeDependent);
    if (training || !modeDependent) ctx.training = &mode;
    Var x("x"), y("y"), c("c"), b("b");
    // Zero outside the node's bounds: gathers may read the adjoint past the
    // edges (as Halide's own Buffer overload of propagate_adjoints does).
    Func adjoint = BoundaryConditions::constant_exterior(dy, 0.0f);
    if (activation >= 0) {
        // d node = the activation's adjoint, inline wherever the node's reads it.
        const Node &a = g.node(activation);
        Func outside = BoundaryConditions::constant_exterior(z, 0.0f), masked("activation_adjoint");
        masked(x, y, c, b) = a.def->gradFromOutput(outside(x, y, c, b), adjoint(x, y, c, b), a.attrs);
        adjoint = masked;
    }
    std::vector<Func> inputGrads(n.operands.size()), paramGrads(n.params.size());
    LoopLevel operandPlane;
    std::vector<Func> atRoot;
    if (writtenAdjoint) {
        std::vector<Func> previous(n.operands.size());
        for (size_t i = 0; i < n.operands.size(); ++i)
            if (operandGrads[i] == GradientWrite::Accumulate) previous[i] = old[i];
        BackwardCtx bctx{ctx, adjoint, dy.dim(3).extent(), inputGrads, paramGrads, operandPlane, previous};
        n.def->backward(bctx);
        inputGrads = bctx.inputGrads, paramGrads = bctx.paramGrads, atRoot = bctx.scheduledAtRoot;
    } else {
        Func value = n.def->lower(ctx);
        // Halide 14's propagate_adjoints reads each Range as [min, max] (its
        // Buffer overload passes extent - 1), so pass the last index.
        Region bounds = {{0, int(n.type.width()) - 1}, {0, int(n.type.height()) - 1},
                         {0, int(n.type.channels()) - 1}, {0, dy.dim(3).extent() - 1}};
        Derivative d = propagate_adjoints(value, adjoint, bounds);
        for (size_t i = 0; i < n.operands.size(); ++i) inputGrads[i] = d(in.operandFuncs[i]);
        for (size_t i = 0; i < n.params.size(); ++i) paramGrads[i] = d(in.paramFuncs[i]);
    }

    // Gradients their adjoint computes at root with a schedule of its own are
    // written straight into the kernel's outputs: copied into a wrapper,
    // ResNet-18's weight gradients (47 MB a step) took another pass, on one
    // thread, and its input gradients another pass over every activation.
    auto computedAtRoot = [&](const Func &f) {
        return f.defined() && std::any_of(atRoot.begin(), atRoot.end(),
                                          [&](const Func &r) { return r.name() == f.name(); });
    };
    std::vector<Func> outputs;
    bool planeBound = false;
    for (size_t i = 0; i < n.operands.size(); ++i) {
        if (operandGrads[i] == GradientWrite::None) continue;
        Func di = inputGrads[i];
        if (computedAtRoot(di)) {
            constrainActivation(di.output_buffer(), g.node(n.operands[i]).type);
            outputs.push_back(di);
            continue;
        }
        Func gi("grad_out" + std::to_string(i));
        Expr contribution = di.defined() ? di(x, y, c, b) : Expr(0.0f);
        gi(x, y, c, b) = operandGrads[i] == GradientWrite::Accumulate ? old[i](x, y, c, b) + contribution : contribution;
        constrainActivation(gi.output_buffer(), g.node(n.operands[i]).type);
        // Whatever the adjoint left inline (relu's mask, batchnorm's terms)
        // runs vectorized along x, parallel over channels x samples, in tasks
        // of at least 4096 values: with a task per plane, a dense layer's
        // 1x1 planes were one value each (LeNet-5's 400 inputs at batch 64:
        // 25,600 tasks, 3.4 ms of its dense backward, 0.75 ms on one thread).
        // The tail is guarded: this output accumulates into its own input,
        // and a shifted-in vector would be added twice.
        const TensorType &t = g.node(n.operands[i]).type;
        // operandPlane is the loop over single planes: over a task's several
        // planes of the fused loop, Halide bounds the channel (cb % C) by all
        // C channels, and a buffer computed there held every plane of a sample.
        int lanes = tileFactor(t.width(), ctx.vectorWidth);
        if (lanes > 1) gi.vectorize(x, lanes, TailStrategy::GuardWithIf);
        Var plane = parallelOverPlanes(gi, c, b, t.width() * t.height());
        if (!planeBound) operandPlane.set(LoopLevel(gi, plane)), planeBound = true;
        outputs.push_back(gi);
    }
    for (size_t i = 0; i < n.params.size() && training; ++i) { // inference mode: operand gradients only
        if (n.params[i].decl.buffer) continue;
        const auto &shape = n.params[i].decl.shape;
        std::vector<Var> vars(shape.size());
        std::vector<Expr> args(vars.begin(), vars.end());
        Func dp = paramGrads[i];
        if (computedAtRoot(dp)) {
            constrainParam(dp.output_buffer(), shape);
            outputs.push_back(dp);
            continue;
        }
        Func gp("grad_p" + std::to_string(i));
        gp(vars) = dp.defined() ? dp(args) : Expr(0.0f);
        constrainParam(gp.output_buffer(), shape);
        outputs.push_back(gp);
    }
    return BuiltKernel{Pipeline(outputs), in.arguments};
}

namespace {

// Per-sample cross-entropy of softmax(logits) against the labels, and
// d loss / d logits = weight * (softmax - onehot) / batch, accumulated.
BuiltKernel buildLoss(const TensorType &logits, float weight, GradientWrite write) {
    int K = int(logits.channels());
    ImageParam z(Float(32), 4, "logits"), old(Float(32), 4, "grad_in");
    ImageParam labels(Int(32), 1, "labels");
    constrainActivation(z, logits);
    constrainActivation(old, logits);
    labels.dim(0).set_min(0);
    Var x("x"), y("y"), c("c"), b("b");
    RDom r(0, K, "r");
    Func peak("peak"), total("total");
    peak(b) = maximum(z(0, 0, r, b));
    total(b) = sum(exp(z(0, 0, r, b) - peak(b)));
    peak.compute_root();
    total.compute_root();
    Expr label = clamp(labels(b), 0, K - 1);
    Func loss("loss");
    loss(x, y, c, b) = log(total(b)) + peak(b) - z(0, 0, label, b);
    constrainActivation(loss.output_buffer(), TensorType{{1}});
    Func grad("grad");
    Expr softmax = exp(z(x, y, c, b) - peak(b)) / total(b);
    Expr onehot = select(c == label, 1.0f, 0.0f);
    Expr contribution = (softmax - onehot) * (weight / cast<float>(z.dim(3).extent()));
    bool accumulate = write == GradientWrite::Accumulate;
    grad(x, y, c, b) = accumulate ? old(x, y, c, b) + contribution : contribution;
    constrainActivation(grad.output_buffer(), logits);
    std::vector<Argument> args{z, labels};
    if (accumulate) args.push_back(old);
    return BuiltKernel{Pipeline({loss, grad}), args};
}

// "%3, %7": a node's operands, for the printed plan.
std::string operandList(const Node &n, const char *prefix) {
    std::string s;
    for (int op : n.operands) s += (s.empty() ? prefix : std::string(", ") + prefix) + std::to_string(op);
    return s;
}

// "|relu{}": a fused activation's part of a kernel's signature.
std::string activationSignature(const Graph &g, int activation) {
    return activation < 0 ? "" : "|" + opWithAttrs(g.node(activation));
}

// Per node, the activation its training kernels compute too (-1: none): an op
// with gradFromOutput (relu...) whose operand has no other use. The kernels
// then keep only the activation's output (its input is never stored) and its
// derivative is taken from that output inside the producer's backward: for
// ResNet-18, relu's 17 kernels of each pass (14 ms of a batch-8 step) and
// two tensors per relu go. Heads, views, and dropout (its mask is drawn per
// node) keep their own kernels.
std::vector<int> fusedActivations(const Graph &g, const std::vector<bool> &needed,
                                  const std::vector<std::pair<int, float>> &heads) {
    std::vector<int> uses(g.nodes.size(), 0);
    for (const Node &n : g.nodes)
        if (needed[size_t(n.id)])
            for (int op : n.operands) ++uses[size_t(op)];
    for (auto &h : heads) ++uses[size_t(h.first)];
    std::vector<int> activationOf(g.nodes.size(), -1);
    std::vector<bool> fused(g.nodes.size(), false);
    for (const Node &a : g.nodes) {
        if (!needed[size_t(a.id)] || a.isInput() || !a.def->gradFromOutput || a.operands.size() != 1) continue;
        const Node &p = g.node(a.operands[0]);
        if (p.isInput() || p.def->traits.view || p.def->traits.stochastic || uses[size_t(p.id)] != 1 ||
            fused[size_t(p.id)] || p.type != a.type)
            continue;
        activationOf[size_t(p.id)] = a.id;
        fused[size_t(a.id)] = fused[size_t(p.id)] = true;
    }
    return activationOf;
}

std::string formatWeight(float w) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", double(w));
    return buf;
}

} // namespace

std::string printTrainingPlan(const TrainingPlan &plan) {
    std::string out;
    for (const PlannedKernel &k : plan.kernels) out += "  " + k.text + "\n";
    return out;
}

TrainingPlan planTraining(const Graph &g, const std::function<int(const std::string &)> &paramIndex,
                          const Target &target, const Target &wideTarget) {
    TrainingPlan plan;
    std::vector<std::pair<int, float>> heads{{logitsOf(g, g.result), 1.0f}};
    for (const AuxHead &a : g.aux) heads.push_back({logitsOf(g, a.node), float(a.weight)});
    for (auto &[node, weight] : heads) {
        const TensorType &t = g.node(node).type;
        if (t.height() != 1 || t.width() != 1)
            throw std::runtime_error("training needs each head to return class scores [N, K]; '" +
                                     g.node(node).opName() + "' returns " + t.str());
        if (g.node(node).isInput()) throw std::runtime_error("training needs at least one layer");
    }
    plan.numClasses = int(g.node(heads[0].first).type.channels());

    // Nodes the losses depend on: they run forward, and (but the input) backward.
    std::vector<int> headNodes;
    for (auto &h : heads) headNodes.push_back(h.first);
    std::vector<bool> needed = g.liveFrom(headNodes);

    // Nodes whose value depends on a trained parameter: only their gradients
    // are computed. Ops on the input before the first layer with weights
    // (`image -> relu -> conv`) run forward only; their backward kernels
    // would have no output.
    std::vector<bool> needsGrad(g.nodes.size(), false);
    for (const Node &n : g.nodes) {
        if (n.isInput()) continue;
        bool trained = std::any_of(n.params.begin(), n.params.end(),
                                   [](const Param &p) { return !p.decl.buffer && !p.decl.derived(); });
        bool fromTrained = std::any_of(n.operands.begin(), n.operands.end(),
                                       [&](int op) { return needsGrad[size_t(op)]; });
        needsGrad[size_t(n.id)] = trained || fromTrained;
    }
    for (auto &h : heads)
        if (!needsGrad[size_t(h.first)])
            throw std::runtime_error("training needs a layer with weights (conv, dense, batchnorm) before each head; '" +
                                     g.node(h.first).opName() + "' has none");

    // Activations computed inside their producer's kernels (see fusedActivations).
    const std::vector<int> activationOf = fusedActivations(g, needed, heads);
    std::vector<int> producerOf(g.nodes.size(), -1);
    for (size_t i = 0; i < activationOf.size(); ++i)
        if (activationOf[i] >= 0) producerOf[size_t(activationOf[i])] = int(i);

    TrainStorage st;
    st.forward.assign(g.nodes.size(), -1);
    st.gradient.assign(g.nodes.size(), -1);
    for (auto &n : g.nodes) {
        if (!needed[size_t(n.id)] || n.isInput() || activationOf[size_t(n.id)] >= 0) continue;
        int64_t size = n.type.elementsPerSample();
        st.forward[size_t(n.id)] = n.def->traits.view ? -1 : st.take(size);
        if (needsGrad[size_t(n.id)]) st.gradient[size_t(n.id)] = st.take(size);
    }
    auto forwardRef = [&](int id) {
        int root = id;
        while (!g.node(root).isInput() && g.node(root).def->traits.view) root = g.node(root).operands[0];
        if (g.node(root).isInput()) {
            TensorRef r = simple(CNNRT_STORAGE_INPUT);
            const TensorType &t = g.node(id).type;
            r.dims[0] = t.width(), r.dims[1] = t.height(), r.dims[2] = t.channels();
            return r;
        }
        return trainTensor(st.forward[size_t(root)], g.node(id).type);
    };
    auto gradRef = [&](int id) { return trainTensor(st.gradient[size_t(id)], g.node(id).type); };
    auto nodeInputs = [&](const Node &n) {
        std::vector<TensorRef> args{simple(CNNRT_STORAGE_SEED)};
        for (int op : n.operands) args.push_back(forwardRef(op));
        for (const Param &p : n.params) args.push_back(paramTensor(CNNRT_STORAGE_PARAM, paramIndex(p.name)));
        return args;
    };

    for (auto &n : g.nodes) {
        if (!needed[size_t(n.id)] || n.isInput() || n.def->traits.view || producerOf[size_t(n.id)] >= 0) continue;
        const int act = activationOf[size_t(n.id)];
        const int result = act >= 0 ? act : n.id;
        PlannedKernel k;
        k.label = "%" + std::to_string(n.id) + " " + n.opName() + (act >= 0 ? "+" + g.node(act).opName() : "") +
                  " (train forward)";
        std::string call = n.opName() + "(" + operandList(n, "%") + ")";
        k.text = "%" + std::to_string(result) + " = " + (act >= 0 ? g.node(act).opName() + "(" + call + ")" : call) +
                 " {train}";
        k.signature = nodeSignature(g, n, "forward") + activationSignature(g, act);
        const std::vector<TensorType> operandTypes = g.operandTypes(n);
        const bool wide = n.def->wideTrainingForward && n.def->wideTrainingForward({operandTypes, n.attrs}, n.type);
        k.target = wide ? wideTarget : target;
        k.build = [&g, id = n.id, act](const Target &t) { return buildForward(g, id, act, t, true); };
        k.args = nodeInputs(n);
        k.args.push_back(forwardRef(result));
        // The training lowering reports a new value for every buffer (running statistics).
        for (const Param &p : n.params)
            if (p.decl.buffer) k.args.push_back(paramTensor(CNNRT_STORAGE_NEW_PARAM, paramIndex(p.name)));
        plan.kernels.push_back(std::move(k));
    }

    // The first kernel to produce a gradient writes it, later ones add to it:
    // the arena needs no zeroing, and most gradient outputs read one stream
    // less. Kernels run in plan order, so this is the order of writing.
    std::vector<bool> gradientWritten(g.nodes.size(), false);
    auto claim = [&](int node) {
        GradientWrite w = gradientWritten[size_t(node)] ? GradientWrite::Accumulate : GradientWrite::Write;
        gradientWritten[size_t(node)] = true;
        return w;
    };
    for (auto &[node, weight] : heads) {
        TensorRef loss = trainTensor(st.take(1), TensorType{{1}});
        PlannedKernel k;
        k.label = "cross-entropy of %" + std::to_string(node);
        GradientWrite write = claim(node);
        bool accumulate = write == GradientWrite::Accumulate;
        k.text = "loss" + std::to_string(plan.lossTerms.size()) + (accumulate ? " =, d%" : ", d%") +
                 std::to_string(node) + (accumulate ? " += " : " = ") + "cross_entropy(%" + std::to_string(node) +
                 ", labels) * " + formatWeight(weight);
        const TensorType t = g.node(node).type;
        float w = weight;
        k.signature = "cnnc-train-1:loss:" + t.str() + ":" + std::to_string(w) + (accumulate ? "+=" : "=");
        k.build = [t, w, write](const Target &) { return buildLoss(t, w, write); };
        k.target = target;
        k.args = {forwardRef(node), simple(CNNRT_STORAGE_LABELS)};
        if (accumulate) k.args.push_back(gradRef(node));
        k.args.push_back(loss);
        k.args.push_back(gradRef(node));
        plan.kernels.push_back(std::move(k));
        plan.lossTerms.push_back({loss, weight});
    }

    for (size_t i = g.nodes.size(); i-- > 0;) {
        const Node &n = g.nodes[i];
        if (!needed[i] || n.isInput() || producerOf[i] >= 0 || !needsGrad[i]) continue;
        const int act = activationOf[i];
        const int result = act >= 0 ? act : int(i); // d result is this kernel's dy
        if (!gradientWritten[size_t(result)])
            throw std::runtime_error("internal error: the gradient of %" + std::to_string(result) +
                                     " is read before any kernel writes it");
        std::vector<GradientWrite> operandGrads;
        for (int op : n.operands) operandGrads.push_back(needsGrad[size_t(op)] ? claim(op) : GradientWrite::None);
        PlannedKernel k;
        k.label = "%" + std::to_string(n.id) + " " + n.opName() + (act >= 0 ? "+" + g.node(act).opName() : "") +
                  " (backward)";
        // Each target with its operator: "d%3 +=, d%4 = add.backward(...)".
        std::vector<std::pair<std::string, const char *>> targets;
        for (size_t o = 0; o < n.operands.size(); ++o)
            if (operandGrads[o] != GradientWrite::None)
                targets.push_back({"d%" + std::to_string(n.operands[o]),
                                   operandGrads[o] == GradientWrite::Accumulate ? "+=" : "="});
        for (const Param &p : n.params)
            if (!p.decl.buffer && !p.decl.derived()) targets.push_back({"d[" + p.name + "]", "="});
        std::string written;
        for (size_t t = 0; t < targets.size(); ++t) {
            bool sameAsNext = t + 1 < targets.size() && std::string(targets[t + 1].second) == targets[t].second;
            written += targets[t].first + (sameAsNext ? ", " : std::string(" ") + targets[t].second +
                                                               (t + 1 < targets.size() ? ", " : ""));
        }
        std::string dy = "d%" + std::to_string(result);
        if (act >= 0) dy = g.node(act).opName() + ".backward(" + dy + ", %" + std::to_string(act) + ")";
        k.text = (written.empty() ? std::string("_ =") : written) + " " + n.opName() + ".backward(" + dy +
                 (n.operands.empty() ? "" : ", ") + operandList(n, "%") + ")";
        k.signature = nodeSignature(g, n, "backward") + activationSignature(g, act);
        for (GradientWrite w : operandGrads)
            k.signature += w == GradientWrite::Accumulate ? "+" : w == GradientWrite::Write ? "=" : "-";
        k.build = [&g, id = n.id, operandGrads, act](const Target &t) {
            return buildBackward(g, id, operandGrads, act, t, true);
        };
        k.target = wideTarget;
        k.args = nodeInputs(n);
        k.args.push_back(gradRef(result));
        if (act >= 0) k.args.push_back(forwardRef(act));
        for (size_t o = 0; o < n.operands.size(); ++o)
            if (operandGrads[o] == GradientWrite::Accumulate) k.args.push_back(gradRef(n.operands[o]));
        for (size_t o = 0; o < n.operands.size(); ++o)
            if (operandGrads[o] != GradientWrite::None) k.args.push_back(gradRef(n.operands[o]));
        for (const Param &p : n.params)
            if (!p.decl.buffer) k.args.push_back(paramTensor(CNNRT_STORAGE_GRAD, paramIndex(p.name)));
        plan.kernels.push_back(std::move(k));
    }
    plan.arenaFloats = st.floats;
    return plan;
}

} // namespace cnnc
