#include "lossd/options.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lossd {

std::string OptionSpec::DefaultText() const {
  switch (type) {
    case OptionType::kPerClass:
      return "all 1";
    case OptionType::kBoolean:
      return default_value != 0 ? "true" : "false";
    case OptionType::kInteger:
      return absl::StrCat(static_cast<int64_t>(default_value));
    case OptionType::kNumber:
      return absl::StrCat(default_value);
    case OptionType::kChoice:
      return choices.empty() ? "" : std::string(choices.front());
  }
  return "";
}

void OptionValues::SetNumber(absl::string_view name, double value) {
  values_[name] = value;
}
void OptionValues::SetInteger(absl::string_view name, int64_t value) {
  values_[name] = value;
}
void OptionValues::SetBoolean(absl::string_view name, bool value) {
  values_[name] = value;
}
void OptionValues::SetPerClass(absl::string_view name,
                               std::vector<double> values) {
  values_[name] = std::move(values);
}

void OptionValues::SetChoice(absl::string_view name, absl::string_view choice) {
  values_[name] = std::string(choice);
}

bool OptionValues::Has(absl::string_view name) const {
  return values_.contains(name);
}

double OptionValues::Number(absl::string_view name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (const auto* v = std::get_if<double>(&it->second)) return *v;
  if (const auto* v = std::get_if<int64_t>(&it->second)) {
    return static_cast<double>(*v);
  }
  return fallback;
}

int64_t OptionValues::Integer(absl::string_view name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (const auto* v = std::get_if<int64_t>(&it->second)) return *v;
  return fallback;
}

bool OptionValues::Boolean(absl::string_view name, bool fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (const auto* v = std::get_if<bool>(&it->second)) return *v;
  return fallback;
}

absl::Span<const double> OptionValues::PerClass(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return {};
  if (const auto* v = std::get_if<std::vector<double>>(&it->second)) return *v;
  return {};
}

absl::string_view OptionValues::Choice(absl::string_view name,
                                       absl::string_view fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (const auto* v = std::get_if<std::string>(&it->second)) return *v;
  return fallback;
}

namespace {

absl::string_view TypeName(OptionType type) {
  switch (type) {
    case OptionType::kNumber:
      return "a number";
    case OptionType::kInteger:
      return "an integer";
    case OptionType::kBoolean:
      return "a boolean";
    case OptionType::kPerClass:
      return "a per-class tensor";
    case OptionType::kChoice:
      return "a choice";
  }
  return "?";
}

bool HasType(const std::variant<double, int64_t, bool, std::vector<double>,
                                std::string>& v,
             OptionType type) {
  switch (type) {
    case OptionType::kNumber:
      return std::holds_alternative<double>(v) ||
             std::holds_alternative<int64_t>(v);
    case OptionType::kInteger:
      return std::holds_alternative<int64_t>(v);
    case OptionType::kBoolean:
      return std::holds_alternative<bool>(v);
    case OptionType::kPerClass:
      return std::holds_alternative<std::vector<double>>(v);
    case OptionType::kChoice:
      return std::holds_alternative<std::string>(v);
  }
  return false;
}

}  // namespace

absl::Status OptionValues::Validate(absl::Span<const OptionSpec> specs,
                                    int64_t classes) const {
  for (const auto& [name, value] : values_) {
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& candidate : specs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("option ", name, " does not apply to this loss"));
    }
    if (!HasType(value, spec->type)) {
      return absl::InvalidArgumentError(
          absl::StrCat("option ", name, " must be ", TypeName(spec->type)));
    }
    if (spec->type == OptionType::kPerClass) {
      const auto& per_class = std::get<std::vector<double>>(value);
      if (static_cast<int64_t>(per_class.size()) != classes) {
        return absl::InvalidArgumentError(
            absl::StrCat("option ", name, " has ", per_class.size(),
                         " values but the input has ", classes, " classes"));
      }
      for (size_t i = 0; i < per_class.size(); ++i) {
        if (!std::isfinite(per_class[i])) {
          return absl::InvalidArgumentError(absl::StrCat(
              "option ", name, "[", i, "] = ", per_class[i], " is not finite"));
        }
      }
      continue;
    }
    if (spec->type == OptionType::kChoice) {
      const std::string& choice = std::get<std::string>(value);
      if (std::find(spec->choices.begin(), spec->choices.end(), choice) ==
          spec->choices.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("option ", name, " = ", choice, " is not one of ",
                         absl::StrJoin(spec->choices, ", ")));
      }
      continue;
    }
    if (spec->type == OptionType::kBoolean) continue;
    const double number = Number(name, 0);
    if (!std::isfinite(number) ||
        (spec->minimum.has_value() &&
         (number < *spec->minimum ||
          (spec->minimum_exclusive && number == *spec->minimum))) ||
        (spec->maximum.has_value() && number > *spec->maximum)) {
      std::string range = absl::StrCat(
          spec->minimum_exclusive ? "(" : "[",
          spec->minimum ? absl::StrCat(*spec->minimum) : "-inf", ", ",
          spec->maximum ? absl::StrCat(*spec->maximum) : "inf", "]");
      return absl::InvalidArgumentError(
          absl::StrCat("option ", name, " = ", number, " is outside ", range));
    }
  }
  return absl::OkStatus();
}

}  // namespace lossd
