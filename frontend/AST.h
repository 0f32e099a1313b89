// Syntax tree of a source file. Chains (`a -> f -> g`) and sums (`a + b + c`) are
// stored flat so that long chains need no recursion to build, lower or destroy.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/SourceLoc.h"

namespace cnnc::ast {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// One element of a `[h, w]` pair: an integer literal or the name of a block's
// integer parameter.
struct PairElem {
    int64_t value = 0;
    std::string name; // nonempty: a parameter reference
    SourceLoc loc;
};

// An argument value as written.
struct Value {
    enum Kind { Int, Float, Bool, String, Pair, Expr } kind = Int;
    int64_t intValue = 0;
    double floatValue = 0;
    bool boolValue = false;
    std::string stringValue;
    PairElem h, w;
    ExprPtr expr; // Expr: a tensor expression, or a bare name that may be an integer parameter
    SourceLoc loc;
};

struct Arg {
    std::string keyword; // empty: positional
    SourceLoc keywordLoc;
    Value value;
};

// `f(args)`, or `f` after `->`.
struct Call {
    std::string callee;
    SourceLoc loc; // of the callee name
    std::vector<Arg> args;
};

struct Expr {
    enum Kind { Name, Call, Chain, Sum } kind = Name;
    SourceLoc loc;
    std::string name;                 // Name
    ast::Call call;                   // Call
    ExprPtr head;                     // Chain: head -> steps[0] -> steps[1] ...
    std::vector<ast::Call> steps;
    std::vector<ExprPtr> terms;       // Sum: terms[0] + terms[1] + ...
    std::vector<SourceLoc> plusLocs;  // Sum: location of each '+'
};

struct Stmt {
    enum Kind { Assign, Return, Aux } kind = Assign;
    SourceLoc loc;      // of the statement's first token
    std::string name;   // Assign
    ExprPtr value;
    double weight = 1.0; // Aux
};

struct BlockParam {
    std::string name;
    SourceLoc loc;
    std::optional<int64_t> defaultValue;
};

struct BlockDef {
    std::string name;
    SourceLoc loc;
    std::string inputName;
    SourceLoc inputLoc;
    std::vector<BlockParam> params; // the integer parameters after the input
    std::vector<Stmt> body;
    SourceLoc endLoc; // the closing '}'
};

struct NetworkDef {
    std::string name;
    SourceLoc loc;
    std::string inputName;
    SourceLoc inputLoc;
    std::vector<int64_t> shape;
    SourceLoc shapeLoc;
    int64_t fixedBatch = 0; // `batch=N` after the input: the only batch accepted (Graph::fixedBatch); 0: any
    std::vector<Stmt> body;
    SourceLoc endLoc;
};

struct Program {
    std::vector<BlockDef> blocks;
    std::optional<NetworkDef> network;
};

} // namespace cnnc::ast
