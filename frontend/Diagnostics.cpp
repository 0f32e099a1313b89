#include "frontend/Diagnostics.h"

#include <algorithm>

namespace cnnc {

size_t utf8SequenceLength(const std::string &s, size_t pos) {
    auto at = [&](size_t i) -> unsigned { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
    unsigned c = at(pos);
    if (c < 0x80) return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    unsigned c1 = at(pos + 1);
    if (c1 < lo || c1 > hi) return 0;
    for (size_t i = 2; i < n; ++i) {
        unsigned ci = at(pos + i);
        if (ci < 0x80 || ci > 0xBF) return 0;
    }
    return n;
}

std::string formatDiagnostic(const std::string &file, const std::string &source, const CompileError &e) {
    if (e.loc.line <= 0) return file + ": error: " + e.what() + "\n";
    std::string out = file + ":" + std::to_string(e.loc.line) + ":" + std::to_string(e.loc.col) +
                      ": error: " + e.what() + "\n";
    // Find the line.
    size_t start = 0;
    for (int l = 1; l < e.loc.line && start != std::string::npos; ++l) {
        start = source.find('\n', start);
        if (start != std::string::npos) ++start;
    }
    if (start == std::string::npos || start > source.size()) return out;
    size_t end = source.find('\n', start);
    if (end == std::string::npos) end = source.size();
    std::string text, caret;
    size_t caretByte = start + size_t(std::max(e.loc.col, 1) - 1);
    bool caretPlaced = false;
    for (size_t i = start; i < end;) {
        unsigned char c = static_cast<unsigned char>(source[i]);
        size_t n = 1;
        std::string shown;
        if (c == '\t') shown = "\t";
        else if (c == '\r' && i + 1 == end) shown = "";
        else if (c < 0x20 || c == 0x7f) shown = "?";
        else if (c >= 0x80) {
            n = utf8SequenceLength(source, i);
            if (n == 0 || i + n > end) { n = 1; shown = "?"; }
            else shown = source.substr(i, n);
        } else shown = std::string(1, char(c));
        if (!caretPlaced) {
            if (caretByte < i + n) { caret += '^'; caretPlaced = true; }
            else caret += (c == '\t') ? "\t" : (shown.empty() ? "" : " ");
        }
        text += shown;
        i += n;
    }
    if (!caretPlaced) caret += '^'; // at end of line
    return out + text + "\n" + caret + "\n";
}

static size_t editDistance(const std::string &a, const std::string &b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string closestMatch(const std::string &name, const std::vector<std::string> &candidates) {
    if (name.size() > 64) return "";
    std::string best;
    size_t bestDist = std::max<size_t>(1, std::min<size_t>(2, name.size() / 3)) + 1;
    for (auto &c : candidates) {
        if (c == name || c.size() > 64) continue;
        size_t d = editDistance(name, c);
        if (d < bestDist && d < name.size()) { bestDist = d; best = c; }
    }
    return best;
}

} // namespace cnnc
