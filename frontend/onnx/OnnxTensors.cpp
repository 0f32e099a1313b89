// TensorProto -> constant values: typed fields, raw little-endian data and
// external data files next to the model.
#include <cstring>
#include <fstream>

#include "frontend/onnx/Importer.h"

namespace cnnc::onnximport {

int64_t Value::elements() const {
    int64_t n = 1;
    for (int64_t d : dims) n = checkedMul(n, d);
    return n;
}

std::string dimsStr(const std::vector<int64_t> &dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
}

namespace {

[[noreturn]] void bad(const onnx::TensorProto &t, const std::string &what) {
    throw OnnxImportError("'" + t.name() + "' " + what);
}

// The bytes of an external tensor: `location` relative to the model's folder
// (no absolute paths, no '..': a model names files beside it), `offset` and
// `length` within it.
std::string readExternal(const onnx::TensorProto &t, const std::string &modelDir) {
    std::string location;
    uint64_t offset = 0, length = 0;
    bool hasLength = false;
    for (auto &kv : t.external_data()) {
        try {
            if (kv.key() == "location") location = kv.value();
            else if (kv.key() == "offset") offset = std::stoull(kv.value());
            else if (kv.key() == "length") length = std::stoull(kv.value()), hasLength = true;
        } catch (const std::exception &) {
            bad(t, "has the external data " + kv.key() + " '" + kv.value() + "', which is not a number");
        }
    }
    if (location.empty()) bad(t, "has external data without a location");
    if (location[0] == '/' || location.find("..") != std::string::npos)
        bad(t, "has external data at '" + location + "', which is not a file beside the model");
    std::string path = modelDir.empty() ? location : modelDir + "/" + location;
    std::ifstream f(path, std::ios::binary);
    if (!f) bad(t, "has external data in '" + path + "', which cannot be read");
    f.seekg(0, std::ios::end);
    uint64_t size = uint64_t(f.tellg());
    if (offset > size) bad(t, "has external data at offset " + std::to_string(offset) + ", past the end of '" + path + "'");
    if (!hasLength) length = size - offset;
    if (length > size - offset)
        bad(t, "has external data in '" + path + "', which holds " + std::to_string(size - offset) +
                   " bytes after offset " + std::to_string(offset) + "; the tensor needs " + std::to_string(length));
    std::string out(length, '\0');
    f.seekg(std::streamoff(offset));
    f.read(out.data(), std::streamsize(length));
    if (!f) bad(t, "has external data in '" + path + "', which cannot be read");
    return out;
}

template <typename T>
std::vector<T> fromRaw(const onnx::TensorProto &t, const std::string &raw, int64_t n) {
    if (raw.size() != uint64_t(n) * sizeof(T))
        bad(t, "holds " + std::to_string(raw.size()) + " bytes of data; its dims " +
                   dimsStr({t.dims().begin(), t.dims().end()}) + " need " + std::to_string(uint64_t(n) * sizeof(T)));
    std::vector<T> v(static_cast<size_t>(n));
    if (n) std::memcpy(v.data(), raw.data(), raw.size()); // little-endian hosts only, as the runtime
    return v;
}

template <typename T, typename Field>
std::vector<T> fromField(const onnx::TensorProto &t, const Field &field, int64_t n) {
    if (int64_t(field.size()) != n)
        bad(t, "holds " + std::to_string(field.size()) + " values; its dims " +
                   dimsStr({t.dims().begin(), t.dims().end()}) + " need " + std::to_string(n));
    return std::vector<T>(field.begin(), field.end());
}

template <typename To, typename From>
std::vector<To> convert(const std::vector<From> &v) {
    return std::vector<To>(v.begin(), v.end());
}

} // namespace

Value decodeTensor(const onnx::TensorProto &t, const std::string &modelDir) {
    Value v;
    v.kind = Value::Constant;
    v.onnxName = t.name();
    for (int64_t d : t.dims()) {
        if (d < 0) bad(t, "has a negative dimension in " + dimsStr({t.dims().begin(), t.dims().end()}));
        v.dims.push_back(d);
    }
    int64_t n = v.elements();
    if (n < 0) bad(t, "has dims " + dimsStr(v.dims) + ", which are too large");
    if (t.has_segment()) bad(t, "is segmented, which is not supported");
    bool external = t.data_location() == onnx::TensorProto::EXTERNAL;
    bool raw = external || t.has_raw_data();
    std::string bytes = external ? readExternal(t, modelDir) : raw ? t.raw_data() : std::string();
    switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
        v.floats = raw ? fromRaw<float>(t, bytes, n) : fromField<float>(t, t.float_data(), n);
        break;
    case onnx::TensorProto::DOUBLE:
        v.floats = convert<float>(raw ? fromRaw<double>(t, bytes, n) : fromField<double>(t, t.double_data(), n));
        break;
    case onnx::TensorProto::INT64:
        v.isInt = true;
        v.ints = raw ? fromRaw<int64_t>(t, bytes, n) : fromField<int64_t>(t, t.int64_data(), n);
        break;
    case onnx::TensorProto::INT32:
        v.isInt = true;
        v.ints = convert<int64_t>(raw ? fromRaw<int32_t>(t, bytes, n) : fromField<int32_t>(t, t.int32_data(), n));
        break;
    default:
        bad(t, "has the data type " + std::string(onnx::TensorProto::DataType_Name(t.data_type())) +
                   ", which is not supported (FLOAT, DOUBLE, INT64, INT32)");
    }
    for (int64_t i : v.ints)
        if (i == kBatchDim) bad(t, "holds the integer " + std::to_string(i) + ", which is not supported");
    return v;
}

} // namespace cnnc::onnximport
