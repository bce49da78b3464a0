#include "text_table.h"

#include <algorithm>

namespace lossctl {

TextTable::TextTable(std::vector<std::string> header)
    : header_(std::move(header)), right_aligned_(header_.size(), false) {}

void TextTable::AddRow(std::vector<std::string> cells) {
  cells.resize(std::max(cells.size(), header_.size()));
  rows_.push_back(std::move(cells));
}

void TextTable::AlignRight(size_t column) {
  if (column < right_aligned_.size()) right_aligned_[column] = true;
}

std::string TextTable::Render() const {
  std::vector<size_t> widths(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) widths[c] = header_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < header_.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < header_.size(); ++c) {
      const size_t pad = widths[c] - cells[c].size();
      const bool last = c + 1 == header_.size();
      if (right_aligned_[c]) text.append(pad, ' ');
      text += cells[c];
      if (!right_aligned_[c] && !last) text.append(pad, ' ');
      if (!last) text += "  ";
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out += '\n';
  };
  line(header_);
  std::vector<std::string> rule(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) rule[c].assign(widths[c], '-');
  line(rule);
  for (const auto& row : rows_) line(row);
  return out;
}

}  // namespace lossctl
