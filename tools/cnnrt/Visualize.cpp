#include "tools/cnnrt/Visualize.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "tools/cnnrt/Dataset.h"
#include "tools/cnnrt/Image.h"
#include "tools/cnnrt/ModelLibrary.h"
#include "tools/cnnrt/Options.h"
#include "tools/cnnrt/Png.h"
#include "tools/cnnrt/Safetensors.h"

namespace cnnrt_tool {

using std::runtime_error;
using std::string;

namespace {

const char *kHelp =
    "usage: cnnrt visualize MODEL.so [--weights W.safetensors] [--name NAME] -o OUT.png MODE\n"
    "\n"
    "MODE, one of:\n"
    "  --filters LAYER                 a conv layer's filters, each scaled to its own min..max: a\n"
    "                                  colour tile per filter where it has 3 input channels, else a\n"
    "                                  grey tile per filter (1 input channel) or a row per filter\n"
    "                                  (the first 16) with a tile per input channel (the first 16)\n"
    "  --activations LAYER --image I   the image, then the layer's feature maps of it, each scaled\n"
    "                                  to its own min..max\n"
    "  --saliency --image I [--class K]  the image, max over channels of |d score / d image| as a\n"
    "                                  heat map, and the heat blended over the image; the score is\n"
    "                                  class K's logit (default: the predicted class); needs --train\n"
    "  --top LAYER --data DIR [-k N] [--channels C] [--format F]\n"
    "                                  for each of the layer's first C channels (default 16), the N\n"
    "                                  test images (default 9) whose strongest response in it is\n"
    "                                  largest, each cropped to that response's receptive field\n"
    "                                  (pixels outside the image: 0); a row per channel, and the\n"
    "                                  images, positions and responses on stdout\n"
    "\n"
    "Tiles are separated by 1-pixel white borders. --scale S (default 8 for filters, else 4)\n"
    "repeats each value or pixel S x S times. Images as cnnrt predict takes them (PGM, PPM, PNG,\n"
    "FILE.idx:K), of the model's input size.\n";

constexpr uint8_t kBorder = 255;

// `count` tiles of th x tw pixels, `cols` to a row, 1-pixel borders around every tile.
struct Grid {
    int count, cols, th, tw;
    int rows() const { return (count + cols - 1) / cols; }
    int width() const { return 1 + cols * (tw + 1); }
    int height() const { return 1 + rows() * (th + 1); }
    int x(int t) const { return 1 + (t % cols) * (tw + 1); }
    int y(int t) const { return 1 + (t / cols) * (th + 1); }
};

int squareColumns(int count) { return std::max(1, int(std::ceil(std::sqrt(double(count))))); }

uint8_t toByte(double v) { return uint8_t(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); }

// (v - lo) / (hi - lo) as a byte; 0 where the range is empty.
uint8_t normalised(float v, float lo, float hi) { return hi > lo ? toByte((double(v) - lo) / (double(hi) - lo)) : 0; }

void range(const float *v, size_t n, float &lo, float &hi) {
    lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; ++i)
        if (std::isfinite(v[i])) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
}

// An h x w plane of bytes (value(row, col)) at (x0, y0), each value an s x s block,
// into canvas channel `channel`, or every channel where it is -1.
template <typename Value>
void drawPlane(Canvas &c, int x0, int y0, int h, int w, int s, int channel, Value value) {
    for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j) {
            const uint8_t b = value(i, j);
            for (int di = 0; di < s; ++di)
                for (int dj = 0; dj < s; ++dj) {
                    uint8_t *p = c.at(x0 + j * s + dj, y0 + i * s + di);
                    if (channel < 0) std::fill(p, p + c.channels, b);
                    else p[channel] = b;
                }
        }
}

// The image (CHW in [0, 1]) at (x0, y0): colour where it has 3 channels and the
// canvas too, else its first channel in grey.
void drawImage(Canvas &c, int x0, int y0, const Image &img, int s) {
    const size_t plane = size_t(img.height) * size_t(img.width);
    const bool colour = img.channels == 3 && c.channels == 3;
    for (int ch = 0; ch < (colour ? 3 : 1); ++ch)
        drawPlane(c, x0, y0, img.height, img.width, s, colour ? ch : -1, [&](int i, int j) {
            return toByte(img.data[size_t(ch) * plane + size_t(i) * size_t(img.width) + size_t(j)]);
        });
}

Image readInputImage(ModelLibrary &m, const string &spec) {
    Image img = loadImage(spec);
    checkImageFits(img, spec, m.name(), m.channels(), m.height(), m.width());
    return img;
}

void save(const string &path, const Canvas &c) {
    writePng(path, c);
    std::printf("cnnrt: wrote %s (%dx%d)\n", path.c_str(), c.width, c.height);
}

// ---- filters ----------------------------------------------------------------------

void filters(ModelLibrary &m, const string &layer, int scale, const string &out) {
    m.layerIndex(layer);  // a clear error for a name the model does not have
    char tmpl[] = "/tmp/cnnrt-visualize-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) throw runtime_error("cannot create a temporary file in /tmp");
    close(fd);
    Tensor w;
    try {
        m.saveWeights(tmpl);
        w = readTensor(tmpl, layer + ".weight");
    } catch (const std::exception &e) {
        unlink(tmpl);
        throw runtime_error("layer '" + layer + "' has no filters to show (" + e.what() + ")");
    }
    unlink(tmpl);
    if (w.shape.size() != 4) throw runtime_error("layer '" + layer + "' is not a convolution (its weight is not 4-D)");
    const int F = int(w.shape[0]), C = int(w.shape[1]), kh = int(w.shape[2]), kw = int(w.shape[3]);
    const size_t perFilter = size_t(C) * size_t(kh) * size_t(kw), plane = size_t(kh) * size_t(kw);
    const bool colour = C == 3, perChannel = C != 1 && C != 3;
    const int shownFilters = perChannel ? std::min(F, 16) : F, shownChannels = perChannel ? std::min(C, 16) : 1;
    Grid g{shownFilters * shownChannels, perChannel ? shownChannels : squareColumns(F), kh * scale, kw * scale};
    Canvas c(g.width(), g.height(), colour ? 3 : 1, kBorder);
    for (int f = 0; f < shownFilters; ++f) {
        const float *filter = w.data.data() + size_t(f) * perFilter;
        float lo, hi;
        range(filter, perFilter, lo, hi);
        for (int ch = 0; ch < (colour ? 3 : shownChannels); ++ch) {
            const int tile = colour ? f : f * shownChannels + ch;
            drawPlane(c, g.x(tile), g.y(tile), kh, kw, scale, colour ? ch : -1, [&](int i, int j) {
                return normalised(filter[size_t(ch) * plane + size_t(i) * size_t(kw) + size_t(j)], lo, hi);
            });
        }
    }
    save(out, c);
}

// ---- activations ------------------------------------------------------------------

void activations(ModelLibrary &m, const string &layer, const string &spec, int scale, const string &out) {
    const Image img = readInputImage(m, spec);
    int dims[3];
    m.layerDims(m.layerIndex(layer), dims);
    const int C = dims[0], H = dims[1], W = dims[2];
    std::vector<float> maps(size_t(C) * size_t(H) * size_t(W));
    m.inferLayer(img.data.data(), 1, layer, maps.data());
    const int mapScale = std::max(1, scale * img.height / H);  // maps about as large as the image
    Grid g{C, squareColumns(C), H * mapScale, W * mapScale};
    const int imageWidth = img.width * scale, imageHeight = img.height * scale;
    Canvas c(1 + imageWidth + g.width(), std::max(imageHeight + 2, g.height()), img.channels == 3 ? 3 : 1, kBorder);
    drawImage(c, 1, 1, img, scale);
    const size_t plane = size_t(H) * size_t(W);
    for (int ch = 0; ch < C; ++ch) {
        const float *map = maps.data() + size_t(ch) * plane;
        float lo, hi;
        range(map, plane, lo, hi);
        drawPlane(c, 1 + imageWidth + g.x(ch), g.y(ch), H, W, mapScale, -1,
                  [&](int i, int j) { return normalised(map[size_t(i) * size_t(W) + size_t(j)], lo, hi); });
    }
    save(out, c);
}

// ---- saliency ---------------------------------------------------------------------

void saliency(ModelLibrary &m, const string &spec, const Options &o, int scale, const string &out) {
    const Image img = readInputImage(m, spec);
    std::vector<float> scores(size_t(m.outputSize()));
    m.infer(img.data.data(), 1, scores.data());
    const int predicted = int(std::max_element(scores.begin(), scores.end()) - scores.begin());
    const int32_t cls = int32_t(o.integer("class", predicted, INT32_MIN, INT32_MAX));
    std::vector<float> grad(img.data.size());
    m.inputGradient(img.data.data(), 1, &cls, grad.data());
    const size_t plane = size_t(img.height) * size_t(img.width);
    std::vector<float> heat(plane, 0.0f);
    for (int ch = 0; ch < img.channels; ++ch)
        for (size_t p = 0; p < plane; ++p) heat[p] = std::max(heat[p], std::fabs(grad[size_t(ch) * plane + p]));
    const float top = *std::max_element(heat.begin(), heat.end());
    // Black through red and yellow to white.
    auto hot = [&](size_t p, int k) { return top > 0 ? std::clamp(3.0 * heat[p] / top - k, 0.0, 1.0) : 0.0; };
    Grid g{3, 3, img.height * scale, img.width * scale};
    Canvas c(g.width(), g.height(), 3, kBorder);
    drawImage(c, g.x(0), g.y(0), img, scale);
    for (int k = 0; k < 3; ++k)
        drawPlane(c, g.x(1), g.y(1), img.height, img.width, scale, k,
                  [&](int i, int j) { return toByte(hot(size_t(i) * size_t(img.width) + size_t(j), k)); });
    drawImage(c, g.x(2), g.y(2), img, scale);
    for (int y = 0; y < g.th; ++y)
        for (int x = 0; x < g.tw; ++x) {
            uint8_t *blend = c.at(g.x(2) + x, g.y(2) + y);
            const uint8_t *heatPixel = c.at(g.x(1) + x, g.y(1) + y);
            for (int k = 0; k < 3; ++k) blend[k] = uint8_t((int(blend[k]) + int(heatPixel[k]) + 1) / 2);
        }
    std::printf("class %d (predicted %d)\n", cls, predicted);
    save(out, c);
}

// ---- top patches ------------------------------------------------------------------

struct Hit {
    float response;
    int64_t image;
    int y, x;  // where in the layer's map
};

void top(ModelLibrary &m, const string &layer, const Options &o, int scale, const string &out) {
    const int index = m.layerIndex(layer);
    int dims[3], field[6];
    m.layerDims(index, dims);
    m.layerField(index, field);
    const int C = dims[0], H = dims[1], W = dims[2];
    const int k = int(o.integer("k", 9, 1, 1000)), channels = std::min(C, int(o.integer("channels", 16, 1, 1 << 20)));
    Split split = loadSplit(o.str("data"), o.str("format"));
    const Dataset &ds = split.test;
    if (ds.channels != m.channels() || ds.height != m.height() || ds.width != m.width())
        throw runtime_error("model '" + m.name() + "' takes " + std::to_string(m.channels()) + "x" +
                            std::to_string(m.height()) + "x" + std::to_string(m.width()) + " inputs but the test images are " +
                            ds.dimsStr());
    // A whole-input field (jumps 0) is the image itself; sizes are clipped to sane bounds.
    const bool whole = field[2] <= 0 || field[3] <= 0;
    const int fh = whole ? m.height() : std::clamp(field[0], 1, 4 * m.height());
    const int fw = whole ? m.width() : std::clamp(field[1], 1, 4 * m.width());

    std::vector<std::vector<Hit>> hits(static_cast<size_t>(channels));
    const int batch = 64;
    const size_t plane = size_t(H) * size_t(W);
    std::vector<float> in(size_t(batch) * size_t(ds.sampleSize())), values(size_t(batch) * size_t(C) * plane);
    std::vector<int32_t> labels(static_cast<size_t>(batch));
    std::vector<int64_t> order(static_cast<size_t>(batch));
    for (int64_t first = 0; first < ds.count; first += batch) {
        const int n = int(std::min<int64_t>(batch, ds.count - first));
        for (int i = 0; i < n; ++i) order[size_t(i)] = first + i;
        ds.gather(order.data(), n, in.data(), labels.data());
        m.inferLayer(in.data(), n, layer, values.data());
        for (int i = 0; i < n; ++i)
            for (int ch = 0; ch < channels; ++ch) {
                const float *map = values.data() + (size_t(i) * size_t(C) + size_t(ch)) * plane;
                size_t best = plane;
                for (size_t p = 0; p < plane; ++p)  // the first largest, NaN never
                    if (map[p] == map[p] && (best == plane || map[p] > map[best])) best = p;
                if (best < plane) hits[size_t(ch)].push_back({map[best], first + i, int(best / size_t(W)), int(best % size_t(W))});
            }
    }
    Grid g{channels * k, k, fh * scale, fw * scale};
    Canvas c(g.width(), g.height(), m.channels() == 3 ? 3 : 1, kBorder);
    Image img;
    img.channels = m.channels(), img.height = fh, img.width = fw;
    std::vector<float> sample(size_t(ds.sampleSize()));
    for (int ch = 0; ch < channels; ++ch) {
        std::vector<Hit> &h = hits[size_t(ch)];
        std::stable_sort(h.begin(), h.end(), [](const Hit &a, const Hit &b) { return a.response > b.response; });
        if (h.size() > size_t(k)) h.resize(size_t(k));
        std::printf("channel %d:", ch);
        for (size_t r = 0; r < h.size(); ++r) {
            ds.gather(&h[r].image, 1, sample.data(), labels.data());
            const int row0 = whole ? 0 : field[4] + h[r].y * field[2], left = whole ? 0 : field[5] + h[r].x * field[3];
            img.data.assign(size_t(img.channels) * size_t(fh) * size_t(fw), 0.0f);
            for (int ci = 0; ci < img.channels; ++ci)
                for (int i = 0; i < fh; ++i)
                    for (int j = 0; j < fw; ++j) {
                        const int y = row0 + i, x = left + j;
                        if (y >= 0 && y < m.height() && x >= 0 && x < m.width())
                            img.data[(size_t(ci) * size_t(fh) + size_t(i)) * size_t(fw) + size_t(j)] =
                                sample[(size_t(ci) * size_t(m.height()) + size_t(y)) * size_t(m.width()) + size_t(x)];
                    }
            const int tile = ch * k + int(r);
            drawImage(c, g.x(tile), g.y(tile), img, scale);
            std::printf(" %lld@%d,%d=%.6g", static_cast<long long>(h[r].image), h[r].y, h[r].x, double(h[r].response));
        }
        std::printf("\n");
    }
    std::printf("receptive field %dx%d, rows %d + %d*y, columns %d + %d*x\n", fh, fw, whole ? 0 : field[4],
                whole ? 0 : field[2], whole ? 0 : field[5], whole ? 0 : field[3]);
    save(out, c);
}

}  // namespace

int cmdVisualize(const std::vector<string> &rawArgs) {
    std::vector<string> args = rawArgs;
    for (string &a : args)  // -k and -o, the usual short spellings
        if (a == "-k" || a == "-o") a = "-" + a;
    Options o = parseOptions(args,
                             {"name", "weights", "o", "filters", "activations", "image", "class", "top", "data", "k",
                              "channels", "format", "scale"},
                             {"help", "saliency"});
    if (o.has("help")) return std::fputs(kHelp, stdout), 0;
    if (o.positional.size() != 1) throw runtime_error("visualize needs exactly one MODEL.so (see cnnrt visualize --help)");
    const int modes = int(o.has("filters")) + int(o.has("activations")) + int(o.has("saliency")) + int(o.has("top"));
    if (modes != 1) throw runtime_error("visualize needs exactly one of --filters, --activations, --saliency, --top");
    if (!o.has("o")) throw runtime_error("visualize needs -o OUT.png");
    if ((o.has("activations") || o.has("saliency")) && !o.has("image"))
        throw runtime_error(string(o.has("saliency") ? "--saliency" : "--activations") + " needs --image FILE");
    if (o.has("top") && !o.has("data")) throw runtime_error("--top needs --data DIR");
    if (o.has("class") && !o.has("saliency")) throw runtime_error("--class applies to --saliency only");
    const int scale = int(o.integer("scale", o.has("filters") ? 8 : 4, 1, 64));
    ModelLibrary m(o.positional[0], o.str("name"), false);
    if (o.has("weights")) m.loadWeights(o.str("weights"));
    else std::fprintf(stderr, "cnnrt: note: no --weights, showing the model's initial weights\n");
    const string out = o.str("o");
    if (o.has("filters")) filters(m, o.str("filters"), scale, out);
    else if (o.has("activations")) activations(m, o.str("activations"), o.str("image"), scale, out);
    else if (o.has("saliency")) saliency(m, o.str("image"), o, scale, out);
    else top(m, o.str("top"), o, scale, out);
    return 0;
}

}  // namespace cnnrt_tool
