// `cnnrt visualize`: what a trained network computes, as PNG files: its
// filters, one image's feature maps, its saliency, and the dataset patches
// that excite a layer's channels most (Zeiler & Fergus, 2014).
#pragma once

#include <string>
#include <vector>

namespace cnnrt_tool {

int cmdVisualize(const std::vector<std::string> &args);

}  // namespace cnnrt_tool
