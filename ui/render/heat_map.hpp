// A heat map (rows x columns of values in [0, 1], e.g. accuracy per depth and length) rendered
// to a PNG file offscreen. Plain C++ types: the CLI includes this without Qt.
#pragma once

#include <string>
#include <vector>

namespace qread::render {

struct HeatMap {
  std::string title;
  std::string x_label, y_label;      // axis titles
  std::vector<std::string> columns;  // x tick labels, left to right
  std::vector<std::string> rows;     // y tick labels, top to bottom
  std::vector<double> values;        // [row * columns.size() + column] in [0, 1]; NaN: no data
  std::vector<std::string> cell_text;  // same layout, or empty: the value as a percentage
};

// Writes `map` as a PNG image. Creates an offscreen QGuiApplication for the fonts when the
// process has none. Throws std::runtime_error when the shape is inconsistent or the file
// cannot be written.
void write_heat_map_png(const HeatMap& map, const std::string& path);

}  // namespace qread::render
