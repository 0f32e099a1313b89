// Stand-in ops for frontend/IR tests, so they do not depend on ops/. Registered
// under the real names (conv, relu, ...); only link this into test binaries that do
// not link cnnc_codegen.
#pragma once
#include <string>

#include "ir/OpDef.h"

namespace cnnc::testing {

inline ArgSpec arg(const char *name, AttrKind kind, std::optional<AttrValue> def) {
    ArgSpec a;
    a.name = name;
    a.kind = kind;
    a.defaultValue = std::move(def);
    return a;
}

inline TensorType fakeConvType(const OpCall &c) {
    const TensorType &in = c.inputs[0];
    if (!in.isMap()) throw OpError("conv expects a [C, H, W] input, got " + in.shapeStr());
    Pair k = c.attrs.getPair("size"), s = c.attrs.getPair("stride"), p = c.attrs.getPair("pad");
    int64_t f = c.attrs.getInt("filters");
    if (f <= 0) throw OpError("conv needs a positive number of filters");
    if (k.h <= 0 || k.w <= 0 || s.h <= 0 || s.w <= 0 || p.h < 0 || p.w < 0) throw OpError("bad conv geometry");
    int64_t h = in.height() + 2 * p.h - k.h, w = in.width() + 2 * p.w - k.w;
    if (h < 0 || w < 0)
        throw OpError("conv kernel [" + std::to_string(k.h) + ", " + std::to_string(k.w) + "] does not fit input " +
                      in.shapeStr());
    TensorType out{{f, h / s.h + 1, w / s.w + 1}};
    if (out.elementsPerSample() < 0) throw OpError("conv output " + out.shapeStr() + " is too large");
    return out;
}

inline void registerFakeOps() {
    auto &r = OpRegistry::get();
    if (r.find("conv")) return;
    {
        OpDef d;
        d.name = "conv";
        d.args = {arg("filters", AttrKind::Int, std::nullopt),
                  arg("size", AttrKind::IntOrPair, std::nullopt),
                  arg("stride", AttrKind::IntOrPair, AttrValue(int64_t(1))),
                  arg("pad", AttrKind::IntOrPair, AttrValue(int64_t(0))),
                  arg("bias", AttrKind::Bool, AttrValue(true))};
        d.inferType = fakeConvType;
        d.params = [](const OpCall &c) {
            Pair k = c.attrs.getPair("size");
            int64_t f = c.attrs.getInt("filters"), ch = c.inputs[0].channels();
            std::vector<ParamDecl> ps{{"weight", {f, ch, k.h, k.w}, ParamInit::UniformFanIn, ch * k.h * k.w}};
            if (c.attrs.getBool("bias")) ps.push_back({"bias", {f}, ParamInit::UniformFanIn, ch * k.h * k.w});
            return ps;
        };
        r.add(d);
    }
    auto unary = [&](const char *name, TensorType (*fn)(const OpCall &)) {
        OpDef d;
        d.name = name;
        d.inferType = fn;
        r.add(d);
    };
    unary("relu", [](const OpCall &c) { return c.inputs[0]; });
    unary("softmax", [](const OpCall &c) {
        if (!c.inputs[0].isVector()) throw OpError("softmax expects a vector, got " + c.inputs[0].shapeStr());
        return c.inputs[0];
    });
    unary("flatten", [](const OpCall &c) { return TensorType{{c.inputs[0].elementsPerSample()}}; });
    {
        OpDef d;
        d.name = "maxpool";
        d.args = {arg("size", AttrKind::IntOrPair, std::nullopt)};
        d.inferType = [](const OpCall &c) {
            const TensorType &in = c.inputs[0];
            if (!in.isMap()) throw OpError("maxpool expects a [C, H, W] input, got " + in.shapeStr());
            Pair k = c.attrs.getPair("size");
            if (k.h <= 0 || k.w <= 0 || k.h > in.height() || k.w > in.width())
                throw OpError("maxpool window does not fit input " + in.shapeStr());
            return TensorType{{in.channels(), in.height() / k.h, in.width() / k.w}};
        };
        r.add(d);
    }
    {
        OpDef d;
        d.name = "dense";
        d.args = {arg("units", AttrKind::Int, std::nullopt), arg("bias", AttrKind::Bool, AttrValue(true))};
        d.inferType = [](const OpCall &c) {
            if (!c.inputs[0].isVector())
                throw OpError("dense expects a vector input, got " + c.inputs[0].shapeStr() + " (flatten first)");
            int64_t u = c.attrs.getInt("units");
            if (u <= 0) throw OpError("dense needs a positive number of units");
            return TensorType{{u}};
        };
        d.params = [](const OpCall &c) {
            int64_t u = c.attrs.getInt("units"), k = c.inputs[0].channels();
            std::vector<ParamDecl> ps{{"weight", {u, k}, ParamInit::UniformFanIn, k}};
            if (c.attrs.getBool("bias")) ps.push_back({"bias", {u}, ParamInit::UniformFanIn, k});
            return ps;
        };
        r.add(d);
    }
    {
        OpDef d;
        d.name = "batchnorm";
        d.args = {arg("eps", AttrKind::Float, AttrValue(1e-5))};
        d.inferType = [](const OpCall &c) { return c.inputs[0]; };
        d.params = [](const OpCall &c) {
            int64_t ch = c.inputs[0].channels();
            return std::vector<ParamDecl>{{"weight", {ch}, ParamInit::Ones, 1},
                                          {"bias", {ch}, ParamInit::Zeros, 1},
                                          {"running_mean", {ch}, ParamInit::Zeros, 1},
                                          {"running_var", {ch}, ParamInit::Ones, 1}};
        };
        r.add(d);
    }
    {
        OpDef d;
        d.name = "dropout";
        d.args = {arg("p", AttrKind::Float, AttrValue(0.5)), arg("tag", AttrKind::String, AttrValue(std::string("d")))};
        d.inferType = [](const OpCall &c) { return c.inputs[0]; };
        r.add(d);
    }
    {
        OpDef d;
        d.name = "concat";
        d.minInputs = 1;
        d.maxInputs = -1;
        d.inferType = [](const OpCall &c) {
            TensorType out = c.inputs[0];
            for (size_t i = 1; i < c.inputs.size(); ++i) {
                const TensorType &t = c.inputs[i];
                if (t.rank() != out.rank() || t.height() != out.height() || t.width() != out.width())
                    throw OpError("concat inputs must have the same height and width, got " +
                                  c.inputs[0].shapeStr() + " and " + t.shapeStr());
                out.dims[0] += t.dims[0];
            }
            return out;
        };
        r.add(d);
    }
    {
        OpDef d;
        d.name = "add";
        d.minInputs = d.maxInputs = 2;
        d.inferType = [](const OpCall &c) {
            if (c.inputs[0] != c.inputs[1])
                throw OpError("add needs inputs of the same shape, got " + c.inputs[0].shapeStr() + " and " +
                              c.inputs[1].shapeStr());
            return c.inputs[0];
        };
        r.add(d);
    }
}

} // namespace cnnc::testing
