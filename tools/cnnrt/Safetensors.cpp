#include "tools/cnnrt/Safetensors.h"

#include <cstring>
#include <stdexcept>

#include "runtime/Json.h"
#include "tools/cnnrt/Dataset.h"

namespace cnnrt_tool {

Tensor readTensor(const std::string &path, const std::string &name) {
    const std::vector<uint8_t> bytes = readFile(path);
    auto bad = [&](const std::string &why) { return std::runtime_error(path + ": " + why); };
    if (bytes.size() < 8) throw bad("not a safetensors file");
    uint64_t headerSize = 0;
    for (int i = 7; i >= 0; --i) headerSize = headerSize << 8 | bytes[size_t(i)];
    if (headerSize > bytes.size() - 8) throw bad("not a safetensors file");
    cnnrt::json::Value header;
    std::string err;
    if (!cnnrt::json::parse(reinterpret_cast<const char *>(bytes.data()) + 8, size_t(headerSize), header, err) ||
        header.kind != cnnrt::json::Value::Object)
        throw bad("bad safetensors header: " + err);
    const cnnrt::json::Value *entry = header.find(name);
    if (!entry) throw bad("no tensor '" + name + "'");
    const cnnrt::json::Value *dtype = entry->find("dtype"), *shape = entry->find("shape"),
                             *offsets = entry->find("data_offsets");
    if (!dtype || dtype->text != "F32" || !shape || shape->kind != cnnrt::json::Value::Array || !offsets ||
        offsets->items.size() != 2)
        throw bad("tensor '" + name + "' is not a plain F32 tensor");
    Tensor t;
    uint64_t numel = 1;
    for (const cnnrt::json::Value &d : shape->items) {
        uint64_t v = 0;
        if (!d.as_u64(v) || v > (uint64_t(1) << 31)) throw bad("tensor '" + name + "' has a bad shape");
        t.shape.push_back(int64_t(v));
        numel *= v;
        if (numel > (uint64_t(1) << 31)) throw bad("tensor '" + name + "' is too large");
    }
    uint64_t begin = 0, end = 0;
    const uint64_t dataSize = bytes.size() - 8 - headerSize;
    if (!offsets->items[0].as_u64(begin) || !offsets->items[1].as_u64(end) || begin > end || end > dataSize ||
        end - begin != numel * 4)
        throw bad("tensor '" + name + "' has bad data offsets");
    t.data.resize(size_t(numel));
    std::memcpy(t.data.data(), bytes.data() + 8 + headerSize + begin, size_t(numel) * 4);
    return t;
}

}  // namespace cnnrt_tool
