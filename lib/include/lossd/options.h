// Loss options: their declarations (OptionSpec) and the values a caller
// supplies for one computation (OptionValues).

#ifndef LOSSD_OPTIONS_H_
#define LOSSD_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace lossd {

enum class OptionType {
  kNumber,    // A real number.
  kInteger,   // A whole number.
  kBoolean,   // true or false.
  kPerClass,  // One finite real number per class.
  kChoice,    // One of a fixed list of names (an enum on the wire).
};

// Declares one option of a loss: its name (also the field name in the wire
// contract), type, default and range. A LossSpec holds these; everything
// else (validation, listing, docs) reads them.
struct OptionSpec {
  absl::string_view name;
  OptionType type = OptionType::kNumber;
  absl::string_view description;
  // The default of kNumber, kInteger and kBoolean options (booleans: 0 or 1).
  // kPerClass options default to all ones; kChoice options to choices[0].
  double default_value = 0;
  // Inclusive bounds for kNumber and kInteger options.
  std::optional<double> minimum;
  std::optional<double> maximum;
  // The minimum itself is excluded (e.g. Huber's delta > 0).
  bool minimum_exclusive = false;
  // The names a kChoice option may take; the first is the default. On the
  // wire each is the enum value NAME_OF_ENUM_<CHOICE IN UPPER CASE>.
  std::vector<absl::string_view> choices;
  // The option only applies to logits (INPUT_KIND_LOGITS).
  bool logits_only = false;
  // The option only applies to class-index targets.
  bool class_index_only = false;

  // The default as text, for listings and docs.
  std::string DefaultText() const;
};

// The option values of one computation. Values not set take their spec's
// default. Not thread-safe for writes; const access is.
class OptionValues {
 public:
  void SetNumber(absl::string_view name, double value);
  void SetInteger(absl::string_view name, int64_t value);
  void SetBoolean(absl::string_view name, bool value);
  void SetPerClass(absl::string_view name, std::vector<double> values);
  void SetChoice(absl::string_view name, absl::string_view choice);

  // Getters return the value set, or `fallback` when none was.
  double Number(absl::string_view name, double fallback) const;
  int64_t Integer(absl::string_view name, int64_t fallback) const;
  bool Boolean(absl::string_view name, bool fallback) const;
  // Empty when not set (meaning: all ones).
  absl::Span<const double> PerClass(absl::string_view name) const;
  absl::string_view Choice(absl::string_view name,
                           absl::string_view fallback) const;

  bool Has(absl::string_view name) const;

  // Checks that every value set is declared in `specs`, has the declared
  // type, lies in range, and (per-class values) has `classes` finite
  // entries. The error names the option and the first offending index.
  absl::Status Validate(absl::Span<const OptionSpec> specs,
                        int64_t classes) const;

 private:
  using Value =
      std::variant<double, int64_t, bool, std::vector<double>, std::string>;
  absl::flat_hash_map<std::string, Value> values_;
};

}  // namespace lossd

#endif  // LOSSD_OPTIONS_H_
