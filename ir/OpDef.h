// The one definition of an op: its arguments, shape rule, parameters, FLOP count,
// traits the passes read, and its Halide lowering and schedule hooks. Every op
// lives in one file under ops/ and registers an OpDef; nothing else in the
// compiler switches over op kinds.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/Attr.h"
#include "ir/TensorType.h"

namespace Halide {
class Func;
struct Expr;
}

namespace cnnc {

struct Derivation;
struct LowerCtx;
struct ScheduleCtx;
struct BackwardCtx;
struct ScheduleChoice;

// A user-facing problem with an op's arguments or input shapes. The caller
// attaches the source location and turns it into a CompileError.
class OpError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ArgSpec {
    std::string name;
    AttrKind kind;
    std::optional<AttrValue> defaultValue; // nullopt: required (unless defaultFrom is set)
    std::string defaultFrom;               // if set and not given: the value of that argument
    bool internal = false;                 // set by passes only: IR text may hold it, source may not
};

// How a freshly created model initialises a parameter (PyTorch's defaults).
enum class ParamInit {
    UniformFanIn, // U(-1/sqrt(fanIn), 1/sqrt(fanIn)): torch's conv/linear weight and bias
    Ones,
    Zeros,
};

struct ParamDecl {
    std::string suffix;          // "weight", "bias", "running_mean", ...
    std::vector<int64_t> shape;  // PyTorch layout
    ParamInit init = ParamInit::UniformFanIn;
    int64_t fanIn = 1;
    std::string owner;           // name prefix when the parameter belongs to another layer ("bn1")
    bool buffer = false;         // state rather than a learned parameter (running statistics), as in PyTorch
    bool kernelArg = true;       // false: loaded and saved, but the kernel reads a derived form
    // Derived: computed from other parameters by the library
    // (lowering/Derivation.h: a folded batchnorm, filters in the layout a
    // schedule reads), never loaded or saved. Null: loaded and saved.
    const Derivation *derivation = nullptr;
    std::vector<int> sources;    // derived: indices into the same node's params (-1: absent)
    double eps = 0.0;            // a folded batchnorm's
    bool derived() const { return derivation != nullptr; }
};

// A kernel argument that a schedule reads in another form, prepared by the
// library from the argument whenever weights change instead of on every call
// (Winograd's transformed filters). `arg` indexes the anchor's kernel
// arguments (LowerCtx::params); `decl` is the form, a derived parameter whose
// one source is that argument (codegen fills in the source).
struct PreparedParam {
    int arg = 0;
    ParamDecl decl;
};

// What an op call looks like to its rules: input types and attributes.
struct OpCall {
    const std::vector<TensorType> &inputs;
    const Attrs &attrs;
};

struct OpTraits {
    bool elementwise = false;         // out(i) depends only on in(i): fuses into its producer
    bool view = false;                // reinterprets memory, no kernel (flatten)
    bool identityAtInference = false; // dropout
    bool anchor = false;              // a reduction that anchors a fused kernel (conv, dense)
    bool pool = false;                // windowed reduction that can consume an anchor's tile
    bool absorbsBatchNorm = false;    // a following batchnorm can fold into its weights (conv, dense)
    bool stochastic = false;          // draws random numbers in training (dropout): each instance differs
    bool foldsIntoProducer = false;   // at inference, an affine map per channel (batchnorm) that a producer
                                      // with absorbsBatchNorm can take into its weights
    bool concatenates = false;        // joins its operands along channels (concat)
    bool normalizesToProbabilities = false; // softmax: a loss reads its input as the logits
    // Receptive fields (ir/ReceptiveField.h): output position (y, x) reads only
    // position (y, x) of its operands, across channels (lrn, softmax, concat;
    // elementwise ops do too), or a window of its operand that the attributes
    // size, stride, pad (and dilation, where declared) place (conv, maxpool, avgpool).
    bool positionwise = false;
    bool slidingWindow = false;
    // Output position (y, x) is its operand's (y - top, x - left), a constant
    // outside the operand (pad): a field moved by the attributes top and left.
    bool border = false;
};

using LowerFn = Halide::Func (*)(LowerCtx &);
using ScheduleFn = void (*)(ScheduleCtx &);
using BackwardFn = void (*)(BackwardCtx &);

struct OpDef {
    std::string name;
    std::string summary; // one line for --help / docs
    int minInputs = 1;
    int maxInputs = 1; // -1: any number
    std::vector<ArgSpec> args;
    OpTraits traits;

    TensorType (*inferType)(const OpCall &) = nullptr;           // throws OpError
    std::vector<ParamDecl> (*params)(const OpCall &) = nullptr;  // null: no parameters
    int64_t (*flops)(const OpCall &, const TensorType &out) = nullptr; // per sample
    LowerFn lower = nullptr;
    ScheduleFn schedule = nullptr; // null: computed inline into its consumer
    // The adjoint written by hand; null: Halide differentiates `lower`.
    BackwardFn backward = nullptr;
    // For activations whose derivative follows from their output z alone
    // (relu: z > 0): d input = gradFromOutput(z, d output). Training then
    // computes the op inside its producer's kernels, forward and backward
    // (codegen/TrainingPlan.cpp), and keeps neither its input nor a kernel of
    // its own. Null: it runs as a node of its own.
    Halide::Expr (*gradFromOutput)(Halide::Expr z, Halide::Expr dz, const Attrs &) = nullptr;
    // Candidate schedules `cnnc tune` times for a kernel this op anchors, whose
    // result (after fused consumers such as a pool) has type `kernelOutput`.
    // The first is the empty choice, the op's plain schedule. Null: nothing to tune.
    std::vector<ScheduleChoice> (*scheduleSpace)(const OpCall &, const TensorType &kernelOutput) = nullptr;
    // The candidate a kernel compiles with where the tuning database has none,
    // for kernels of `vectorWidth` floats a vector (one of scheduleSpace's; a
    // library's portable twins of wide kernels take the wide kernel's). Null:
    // the empty choice.
    ScheduleChoice (*defaultSchedule)(const OpCall &, const TensorType &kernelOutput, int vectorWidth) = nullptr;
    // The kernel arguments that the inference kernel with schedule `choice`
    // reads prepared (its lowering then finds the form in LowerCtx::params).
    // Null: every argument as declared.
    std::vector<PreparedParam> (*preparedParams)(const OpCall &, const TensorType &kernelOutput,
                                                 const ScheduleChoice &choice) = nullptr;
    // Whether the op's training forward kernel (output `out`) is compiled for
    // wideKernelTarget(), whose vectors may be wider than the inference
    // kernels' (codegen/KernelTarget.cpp), instead of the inference target.
    // Null: never (the backward kernels always are).
    bool (*wideTrainingForward)(const OpCall &, const TensorType &out) = nullptr;

    bool hasParams() const { return params != nullptr; }
    const ArgSpec *findArg(const std::string &name) const;
    // The call as the language writes it, with defaults:
    // "conv(filters, size, stride=1, pad=0, ...)" (internal arguments left out).
    std::string signature() const;
};

// All ops, looked up by name. Populated once by registerAllOps().
class OpRegistry {
public:
    static OpRegistry &get();
    void add(OpDef def);
    const OpDef *find(const std::string &name) const;
    std::vector<const OpDef *> all() const;

private:
    std::map<std::string, OpDef> ops_;
};

// Registers every op in ops/ (idempotent).
void registerAllOps();

// Fills in defaults and checks kinds: turns what the user wrote (positional and
// keyword values) into the op's full attribute list. Throws OpError.
// Internal arguments are accepted only with allowInternal (the IR parser) and
// are absent from the result unless given.
Attrs bindArguments(const OpDef &def, const std::vector<AttrValue> &positional,
                    const std::vector<std::pair<std::string, AttrValue>> &keywords, bool allowInternal = false);

} // namespace cnnc
