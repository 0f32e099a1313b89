#include "passes/MemoryPlan.h"

#include <algorithm>

#include "ir/Verifier.h"

namespace cnnc {

namespace {
struct Block {
    int64_t begin, end;
};

// First fit over the gaps between live blocks (kept sorted by offset).
int64_t allocate(std::vector<Block> &live, int64_t size) {
    int64_t cursor = 0;
    for (size_t i = 0; i <= live.size(); ++i) {
        int64_t gapEnd = i < live.size() ? live[i].begin : INT64_MAX;
        if (gapEnd - cursor >= size) {
            live.insert(live.begin() + long(i), Block{cursor, cursor + size});
            return cursor;
        }
        cursor = std::max(cursor, live[i].end);
    }
    return -1; // unreachable: the last gap is unbounded
}

// Each arena value's lifetime in kernel steps: from its first writer (an
// in-place concat has several) to the last kernel reading it. A kernel's
// output thus never shares memory with what it reads.
std::map<int, Lifetime> arenaLifetimes(const std::vector<StorageRef> &storage, const std::vector<KernelSpec> &kernels,
                                       const std::vector<bool> &external) {
    std::map<int, Lifetime> life;
    for (size_t k = 0; k < kernels.size(); ++k) {
        int root = storage[size_t(kernels[k].nodes.back())].root;
        if (!external[size_t(root)] && !life.count(root)) life[root] = {k, k};
    }
    for (size_t k = 0; k < kernels.size(); ++k)
        for (int e : kernels[k].externals)
            if (auto it = life.find(storage[size_t(e)].root); it != life.end())
                it->second.last = std::max(it->second.last, k);
    return life;
}
} // namespace

MemoryPlan planMemory(const Graph &graph, const std::vector<KernelSpec> &kernels, const std::vector<bool> &external) {
    const std::map<int, Lifetime> life = arenaLifetimes(resolveStorage(graph), kernels, external);
    MemoryPlan plan;
    std::vector<Block> live;
    std::map<int, Block> blockOf;
    for (size_t k = 0; k < kernels.size(); ++k) {
        for (auto &[root, l] : life)
            if (l.first == k) {
                int64_t size = graph.node(root).type.elementsPerSample();
                int64_t at = allocate(live, size);
                plan.offset[root] = at;
                blockOf[root] = Block{at, at + size};
                plan.unplannedFloats += size;
                plan.arenaFloats = std::max(plan.arenaFloats, at + size);
            }
        // Free what this kernel was the last to read (and dead outputs).
        for (auto it = blockOf.begin(); it != blockOf.end();) {
            if (life.at(it->first).last <= k) {
                Block b = it->second;
                live.erase(std::find_if(live.begin(), live.end(), [&](const Block &x) { return x.begin == b.begin; }));
                it = blockOf.erase(it);
            } else {
                ++it;
            }
        }
    }
    return plan;
}

} // namespace cnnc

namespace cnnc {

std::vector<bool> arenaExempt(const Graph &g) {
    std::vector<bool> exempt(g.nodes.size(), false);
    exempt[0] = true;                                  // the caller's input
    exempt[size_t(resolveStorage(g)[size_t(g.result)].root)] = true; // the caller's output
    return exempt;
}

void verifyMemoryPlan(const Graph &g) {
    auto fail = [&](int id, const std::string &msg) { return invalidNode(g.node(id), msg); };
    const std::map<int, Lifetime> life = arenaLifetimes(resolveStorage(g), partitionKernels(g), arenaExempt(g));
    for (const Node &n : g.nodes)
        if (n.arenaOffset >= 0 && !life.count(n.id))
            throw fail(n.id, "offset=" + std::to_string(n.arenaOffset) + " on a value that is not stored in the arena");
    struct Placed {
        int id;
        int64_t begin, end;
        Lifetime life;
    };
    std::vector<Placed> placed;
    for (auto &[id, l] : life) {
        const Node &n = g.node(id);
        if (n.arenaOffset < 0) throw fail(id, "no offset= for a value stored in the arena (arena=" + std::to_string(g.arenaFloats) + ")");
        int64_t size = n.type.elementsPerSample();
        if (n.arenaOffset > g.arenaFloats - size)
            throw fail(id, "offset=" + std::to_string(n.arenaOffset) + " with " + std::to_string(size) +
                               " floats per sample goes beyond arena=" + std::to_string(g.arenaFloats));
        placed.push_back({id, n.arenaOffset, n.arenaOffset + size, l});
    }
    std::sort(placed.begin(), placed.end(), [](const Placed &a, const Placed &b) { return a.begin < b.begin; });
    for (size_t i = 0; i < placed.size(); ++i)
        for (size_t j = i + 1; j < placed.size() && placed[j].begin < placed[i].end; ++j) {
            const Placed &a = placed[i], &b = placed[j];
            if (a.life.first <= b.life.last && b.life.first <= a.life.last)
                throw fail(b.id, "offset=" + std::to_string(b.begin) + " overlaps %" + std::to_string(a.id) +
                                     " (offset=" + std::to_string(a.begin) + ", " + std::to_string(a.end - a.begin) +
                                     " floats), which is live at the same time");
        }
}

void planMemoryPass(Graph &g, const PassOptions &, PassReport &report) {
    MemoryPlan plan = planMemory(g, partitionKernels(g), arenaExempt(g));
    for (auto &n : g.nodes) n.arenaOffset = -1;
    for (auto &[node, offset] : plan.offset) g.node(node).arenaOffset = offset;
    g.arenaFloats = plan.arenaFloats;
    report.count("values placed in the arena", int64_t(plan.offset.size()));
    report.count("arena bytes per sample", 4 * plan.arenaFloats);
    report.count("bytes per sample saved by reuse", 4 * (plan.unplannedFloats - plan.arenaFloats));
}

} // namespace cnnc
