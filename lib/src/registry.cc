#include "lossd/registry.h"

#include <algorithm>
#include <vector>

#include "kernel.h"

namespace lossd {

bool LossSpec::Accepts(TargetKind kind) const {
  return std::find(target_kinds.begin(), target_kinds.end(), kind) !=
         target_kinds.end();
}

bool LossSpec::Accepts(InputKind kind) const {
  return std::find(input_kinds.begin(), input_kinds.end(), kind) !=
         input_kinds.end();
}

const OptionSpec* LossSpec::FindOption(absl::string_view option_name) const {
  for (const OptionSpec& option : options) {
    if (option.name == option_name) return &option;
  }
  return nullptr;
}

absl::Span<const LossSpec> AllLosses() {
  // Built once, on first use, and never destroyed (thread-safe static).
  static const auto* const kLosses = new std::vector<LossSpec>{
      internal::CrossEntropySpec(), internal::NllSpec(),
      internal::PolySpec(),         internal::BinaryCrossEntropySpec(),
      internal::FocalSpec(),        internal::SoftmaxFocalSpec(),
      internal::KlDivSpec(),        internal::MseSpec(),
      internal::L1Spec(),           internal::HuberSpec(),
      internal::SmoothL1Spec(),     internal::PoissonNllSpec(),
      internal::HingeSpec(),        internal::MultiMarginSpec(),
      internal::AccuracySpec(),     internal::ClassificationErrorSpec(),
  };
  return *kLosses;
}

const LossSpec* FindLoss(absl::string_view name) {
  for (const LossSpec& spec : AllLosses()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace lossd
