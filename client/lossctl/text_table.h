// Left-aligned text tables with columns as wide as their widest cell.

#ifndef LOSSCTL_TEXT_TABLE_H_
#define LOSSCTL_TEXT_TABLE_H_

#include <string>
#include <vector>

namespace lossctl {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header);

  // Rows shorter than the header are padded with empty cells.
  void AddRow(std::vector<std::string> cells);
  // Right-aligns a column (for numbers).
  void AlignRight(size_t column);
  size_t row_count() const { return rows_.size(); }

  // The header, a rule and the rows, each line ending in '\n'. The last
  // column is not padded, so long descriptions do not add trailing blanks.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_aligned_;
};

}  // namespace lossctl

#endif  // LOSSCTL_TEXT_TABLE_H_
